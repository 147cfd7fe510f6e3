from datetime import timezone

from odoo import fields, models

from ..engine.deliverability import analyze_headers
from ..engine.deliverability.dmarc import organizational_domain
from ..engine.deliverability.headers import meaning_template


class CivimailHeaderAnalysis(models.TransientModel):
    """Paste a received message: its route (Received chain) and its SPF/DKIM/DMARC verdicts."""

    _name = "civimail.header.analysis"
    _description = "CiviMail: Analyze Headers"

    raw = fields.Text(
        string="Message source or headers", required=True,
        help="Paste the source of a received message (\"Show original\" in Gmail, \"View "
        "source\" elsewhere), or just its headers.",
    )
    hop_ids = fields.One2many("civimail.header.analysis.hop", "analysis_id", string="Route",
                              readonly=True)
    verdict_ids = fields.One2many("civimail.header.analysis.verdict", "analysis_id",
                                  string="Verdicts", readonly=True)
    analyzed = fields.Boolean(readonly=True)
    summary = fields.Text(readonly=True)

    def action_analyze(self):
        self.ensure_one()
        self.env["civimail.deliverability.check"]._check_manager()
        self.check_access("write")
        report = analyze_headers(self.raw or "")
        hops = [fields.Command.create({
            "sequence": index,
            "from_host": hop.from_host or False,
            "from_rdns": hop.from_rdns or False,
            "ip": hop.ip or False,
            "by_host": hop.by_host or False,
            "protocol": hop.protocol or False,
            "date": _utc_naive(hop.timestamp) if hop.timestamp else False,
            "delay": hop.delay or 0.0,
            "has_delay": hop.delay is not None,
            "raw": hop.raw,
        }) for index, hop in enumerate(report.hops, start=1)]
        verdicts = [fields.Command.create({
            "sequence": index,
            "method": verdict.method,
            "result": verdict.result,
            "source": verdict.source,
            "reporter": verdict.reporter or False,
            "details": ", ".join(f"{key}={value}" for key, value in verdict.details.items())
            or False,
            "meaning": self._meaning(verdict),
        }) for index, verdict in enumerate(report.verdicts, start=1)]
        self.write({
            "hop_ids": [fields.Command.clear(), *hops],
            "verdict_ids": [fields.Command.clear(), *verdicts],
            "analyzed": True,
            "summary": self._summary(report),
        })
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Analyze Headers"),
        }

    def _meaning(self, verdict):
        """The verdict's sentence for an admin, in the reader's language."""
        return self.env["civimail.deliverability.check"]._render_template(
            meaning_template(verdict.method, verdict.result), {"result": verdict.result})

    def _summary(self, report):
        if not report.hops and not report.verdicts:
            return self.env._(
                "No Received, Authentication-Results or Received-SPF header was found: paste "
                "the headers of a message as the recipient's mail program shows them."
            )
        lines = [self.env._("%s servers handled the message.", len(report.hops))]
        for method in ("spf", "dkim", "dmarc"):
            verdict = report.verdict(method)
            if verdict is None:
                lines.append(self.env._(
                    "%s: the receiver wrote no verdict.", method.upper()))
            else:
                lines.append(self.env._(
                    "%(method)s: %(result)s (%(reporter)s).", method=method.upper(),
                    result=verdict.result, reporter=verdict.reporter or verdict.source))
        lines.extend(self._alignment_notes(report))
        return "\n".join(lines)

    def _alignment_notes(self, report):
        """Why DMARC failed though DKIM passed: the signature is another domain's."""
        dmarc, dkim = report.verdict("dmarc"), report.verdict("dkim")
        if not (dmarc and dkim and dmarc.result == "fail" and dkim.result == "pass"):
            return []
        from_domain = dmarc.details.get("header.from", "").lower().rstrip(".")
        signer = dkim.details.get("header.d", dkim.details.get("header.i", "")).lower()
        signer = signer.rpartition("@")[2].rstrip(".")
        if not from_domain or not signer or _aligned(signer, from_domain):
            return []
        return [self.env._(
            "DKIM passed for %(signer)s, which is not the From domain %(from_domain)s nor "
            "under it: DMARC only counts a signature of the From domain (relaxed alignment "
            "accepts its subdomains). Have your server or provider sign with d=%(from_domain)s.",
            signer=signer, from_domain=from_domain,
        )]


def _aligned(domain, from_domain):
    """Relaxed DMARC alignment (RFC 7489 3.1.1): the same organizational domain."""
    return organizational_domain(domain) == organizational_domain(from_domain)


def _utc_naive(stamp):
    """An aware datetime as Odoo stores it: naive UTC."""
    return stamp.astimezone(timezone.utc).replace(tzinfo=None)
