import logging

from odoo import http
from odoo.http import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ..engine.webhooks import MAX_BODY, Refused

_logger = logging.getLogger(__name__)


class CivimailWebhook(http.Controller):
    """Providers' event webhooks: verified, stored in one committed insert, answered.

    Nothing is read or written before the request is proven the provider's;
    the *Process Provider Events* job does the work later.
    """

    @http.route(
        "/civimail/webhook/<string:provider>/<string:token>",
        type="http", auth="none", methods=["POST"], csrf=False, save_session=False,
        max_content_length=MAX_BODY, readonly=False,
    )
    def civimail_webhook(self, provider, token, **_params):  # noqa: PLR0911 - one answer per refusal
        if not request.db:
            return _answer(404, "no database")
        httprequest = request.httprequest
        if (httprequest.content_length or 0) > MAX_BODY:
            return _answer(413, "body too large")
        try:  # a body without Content-Length stops at the route's max_content_length
            body = httprequest.get_data(cache=False)
        except RequestEntityTooLarge:
            return _answer(413, "body too large")
        env = request.env(su=True)
        account = env["civimail.provider.account"]._for_webhook(provider, token)
        if not account:
            return _answer(403, "unknown webhook")
        try:
            replay_key = account._verify(body, dict(httprequest.headers), token)
            reason = account._confirm_sns_subscription(body)
        except Refused as error:
            _logger.info("CiviMail: %s webhook request refused (%s)", provider, error.code)
            return _answer(400 if error.code == "malformed" else 403, error.code)
        if account._over_rate_limit():
            # The provider retries later (RFC 6585): say when a minute's window ends.
            response = _answer(429, "rate limited")
            response.headers["Retry-After"] = "60"
            return response
        event_id = env["civimail.provider.event"]._insert_received(
            account, replay_key, body, reason)
        if event_id is None:
            return _answer(409, "already received")
        # Odoo commits the request's transaction before sending this answer.
        return _answer(200, "received")


def _answer(status, text):
    return Response(text, status=status, content_type="text/plain")
