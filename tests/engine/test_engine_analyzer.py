"""Analyzer behaviour on synthetic messages."""

import time

import pytest

from civimail_addon.engine.bounce import analyze, render_table
from civimail_addon.engine.verp import VerpCodec

HEAD = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.org\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.net>\r\n")


def dsn(recipient=b"jane@example.com", action=b"failed", status=b"5.1.1",
        diag=b"smtp; 550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown",
        to=b"news@example.org"):
    return (HEAD.replace(b"news@example.org", to)
            + b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
            b"report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            b"--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to inform you...\r\n"
            b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
            b"Final-Recipient: rfc822; " + recipient + b"\r\nAction: " + action
            + b"\r\nStatus: " + status + b"\r\nDiagnostic-Code: " + diag + b"\r\n\r\n"
            b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            b"From: news@example.org\r\nTo: " + recipient + b"\r\nSubject: hi\r\n\r\n--B--\r\n")


def test_dsn_user_unknown_is_hard_invalid():
    report = analyze(dsn())
    assert report.kind == "bounce"
    assert report.message_id == "<dsn1@mx.example.net>"
    [bounce] = report.bounces
    assert (bounce.email, bounce.type, bounce.hard, bounce.status) == (
        "jane@example.com", "invalid", True, "5.1.1")
    assert "User unknown" in bounce.diagnostic and "\n" not in bounce.diagnostic
    assert report.to_dict("x.eml") == {"file": "x.eml", "kind": "bounce", "bounces": [
        {"email": "jane@example.com", "type": "invalid", "hard": True, "status": "5.1.1",
         "diagnostic": bounce.diagnostic}]}


def test_delayed_dsn_is_soft():
    report = analyze(dsn(action=b"delayed", status=b"4.4.1",
                         diag=b"smtp; 421 4.4.1 Connection timed out"))
    [bounce] = report.bounces
    assert report.kind == "bounce" and bounce.type == "host" and bounce.hard is False


def test_delivered_only_dsn_is_not_bounce():
    report = analyze(dsn(action=b"delivered", status=b"2.0.0", diag=b"smtp; 250 OK"))
    assert report.kind == "not_bounce" and report.bounces == []


def test_arf_report_is_complaint():
    raw = (b"From: feedback@isp.example\r\nTo: abuse@example.org\r\nSubject: Abuse report\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
           b"report-type=feedback-report; boundary=\"F\"\r\n\r\n"
           b"--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
           b"--F\r\nContent-Type: message/feedback-report\r\n\r\n"
           b"Feedback-Type: abuse\r\nUser-Agent: Example/1.0\r\nVersion: 1\r\n"
           b"Original-Rcpt-To: <Bob@Isp.Example>\r\n\r\n"
           b"--F\r\nContent-Type: message/rfc822\r\n\r\n"
           b"From: news@example.org\r\nTo: bob@isp.example\r\nSubject: News\r\n\r\nHi\r\n--F--\r\n")
    report = analyze(raw)
    assert report.kind == "complaint"
    assert [(b.email, b.type, b.hard) for b in report.bounces] == [
        ("bob@isp.example", "complaint", False)]


def test_autoreply():
    raw = (b"From: Jane <jane@example.com>\r\nTo: news@example.org\r\n"
           b"Subject: Out of office: News\r\nAuto-Submitted: auto-replied\r\n\r\n"
           b"I am out of the office until Monday.\r\n")
    report = analyze(raw)
    assert report.kind == "autoreply"
    assert [(b.email, b.type, b.hard) for b in report.bounces] == [
        ("jane@example.com", "away", False)]


def test_suppress_header_is_not_autoreply():
    raw = (b"From: jane@example.com\r\nTo: news@example.org\r\nSubject: Re: News\r\n"
           b"X-Auto-Response-Suppress: All\r\n\r\nThanks, see you.\r\n")
    assert analyze(raw).kind == "not_bounce"


def test_plain_message_is_not_bounce():
    raw = (b"From: jane@example.com\r\nTo: news@example.org\r\nSubject: Hello\r\n\r\n"
           b"Could you send me the agenda? My colleague bob@example.net asked too.\r\n")
    report = analyze(raw)
    assert report.kind == "not_bounce" and report.bounces == []


def test_garbage_never_raises():
    for raw in (b"", b"   ", bytes(range(256)) * 50, b"\x00" * 1000, None, "text",
                b"Content-Type: multipart/report; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: "
                b"message/delivery-status\r\n\r\nFinal-Recipient: rfc822;",
                dsn()[:300]):
        report = analyze(raw)
        assert report.kind in {"bounce", "not_bounce"}
        assert report.reason


def test_empty_is_unparseable():
    report = analyze(b"")
    assert report.kind == "not_bounce" and "nparseable" in report.reason


def test_huge_message_is_bounded():
    attachment = b"QUFBQUFB" * (30 * 1024 * 1024 // 8)
    part = (b"--B\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"\r\n--B--\r\n")
    raw = dsn().replace(b"--B--\r\n", part)
    started = time.perf_counter()
    report = analyze(raw)
    assert time.perf_counter() - started < 5
    assert report.kind == "bounce" and report.bounces[0].email == "jane@example.com"


def test_verp_token_is_attached():
    codec = VerpCodec("return+", "example.org", ["s3cret"])
    address = codec.build(314, "jane@example.com").encode()
    report = analyze(dsn(to=address), verp=codec)
    [bounce] = report.bounces
    assert bounce.verp is not None and bounce.verp.trace_id == 314
    assert codec.verify(bounce.verp, bounce.email)


def test_text_bounce_without_dsn():
    raw = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.org\r\n"
           b"Subject: failure notice\r\n\r\n"
           b"Hi. This is the qmail-send program at mx.example.net.\r\n"
           b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
           b"<bob@example.com>:\r\n192.0.2.1 does not like recipient.\r\n"
           b"Remote host said: 552 5.2.2 Mailbox full\r\n\r\n"
           b"--- Below this line is a copy of the message.\r\n\r\n"
           b"From: news@example.org\r\nTo: bob@example.com\r\n\r\nHi\r\n")
    [bounce] = analyze(raw).bounces
    assert (bounce.email, bounce.type, bounce.hard) == ("bob@example.com", "quota", False)


def test_render_table():
    table = render_table([("a.eml", analyze(dsn())), ("b.eml", analyze(b""))])
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["FILE", "KIND", "EMAIL"]
    assert "jane@example.com" in lines[1] and "invalid" in lines[1]
    assert lines[2].startswith("b.eml") and "not_bounce" in lines[2]


# --- general classification rules -------------------------------------------------

def text_bounce(notice, headers=b""):
    return (b"From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.org\r\n" + headers
            + b"Subject: Mail delivery failed: returning message to sender\r\n\r\n"
            + notice + b"\r\n------ This is a copy of the message, including all the headers."
            b" ------\r\n\r\nFrom: news@example.org\r\nTo: bob@example.com\r\n\r\nHi\r\n")


def one(raw):
    [bounce] = analyze(raw).bounces
    return bounce


def test_user_unknown_after_data_is_still_invalid():
    # The server's words about the recipient beat the stage (issue 13, kind 3).
    raw = text_bounce(b"<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 Unknown\r\n"
                      b"    user bob@example.com (in reply to end of DATA command)\r\n")
    assert (one(raw).type, one(raw).hard) == ("invalid", True)


def test_user_unknown_after_rcpt_stays_invalid():
    raw = text_bounce(b"<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 Unknown\r\n"
                      b"    user bob@example.com (in reply to RCPT TO command)\r\n")
    assert (one(raw).type, one(raw).hard) == ("invalid", True)


def test_sendmail_pipelined_rcpt_reply_after_data_line_stays_invalid():
    # With PIPELINING Sendmail logs ">>> DATA" before the RCPT reply; "Need RCPT" shows it.
    raw = text_bounce(b"----- The following addresses had permanent fatal errors -----\r\n"
                      b"<bob@example.com>\r\n    (reason: 550 5.1.1 User unknown)\r\n\r\n"
                      b"----- Transcript of session follows -----\r\n"
                      b"... while talking to mx.example.com.:\r\n>>> DATA\r\n"
                      b"<<< 550 5.1.1 <bob@example.com>... User unknown\r\n"
                      b"<<< 503 5.0.0 Need RCPT (recipient)\r\n")
    assert one(raw).type == "invalid"


@pytest.mark.parametrize("command", [b"MAIL FROM:<news@example.org>", b"EHLO mx.example.org"])
def test_rejection_before_any_recipient_is_about_the_sender(command):
    raw = text_bounce(b"  bob@example.com\r\n    host mx.example.com [192.0.2.1]\r\n"
                      b"    SMTP error from remote mail server after " + command + b":\r\n"
                      b"    553 5.1.0 example.org does not exist\r\n")
    assert (one(raw).type, one(raw).hard) == ("blocked", False)


def test_temporary_domain_lookup_failure_is_host():
    raw = dsn(action=b"delayed", status=b"4.4.3",
              diag=b"X-Postfix; Host or domain name not found. Name service error for "
                   b"name=example.com type=MX: Host not found, try again")
    assert (one(raw).type, one(raw).hard) == ("host", False)


@pytest.mark.parametrize(("code", "kind"), [(b"77", "host"), (b"71", "host"),
                                            (b"67", "invalid")])
def test_x_unix_exit_status(code, kind):
    bounce = one(dsn(status=b"5.3.0", diag=b"X-Unix; " + code))
    assert bounce.type == kind and code.decode() in bounce.diagnostic


def test_url_paths_are_not_wording():
    bounce = one(dsn(status=b"5.0.0", diag=b"smtp; 550 User unknown. See "
                                          b"https://help.example.net/reasons#filtered"))
    assert bounce.type == "invalid"


@pytest.mark.parametrize(("status", "kind"), [(b"5.4.4", "dns"), (b"5.7.6", "blocked"),
                                              (b"5.5.0", "unknown"), (b"5.3.0", "host")])
def test_status_codes(status, kind):
    # 5.5.0 is "undefined protocol status" and a bare 550 proves nothing either.
    assert one(dsn(status=status, diag=b"smtp; 550 Requested action not taken")).type == kind


def test_command_syntax_replies():
    assert one(dsn(status=b"5.0.0", diag=b"smtp; 504 Command parameter rejected")).type == (
        "syntax")


@pytest.mark.parametrize(("diag", "kind"), [
    (b"The account or domain may not exist, they may be blacklisted, or missing the proper "
     b"dns entries.", "dns"),
    (b"550-5.7.1 Messages with multiple addresses in From: header are not accepted.", "syntax"),
    (b"delivery temporarily suspended: connect to mx.example.com[192.0.2.2]: server refused "
     b"to talk to me: 421 Service not available", "blocked"),
    (b"550 5.7.1 Recipient address rejected: User bob temporary locked.", "inactive"),
    (b"554 Message rejected: Email address is not verified. The following identities failed "
     b"the check in region US-EAST-1: news@example.org", "relay"),
    (b"pipe to |/usr/local/bin/handler bob@example.com failed", "host"),
    (b"procmail: Couldn't create \"/var/spool/mail/bob\"", "host"),
    (b"554 Service currently unavailable", "host"),
    (b"554 Transaction failed", "host"),
    (b"Your message was not delivered within 0 days and 1 hours.", "host"),
    (b"Host not reachable", "host"),
    (b"500 Remote server does not support TLS", "host"),
    (b"Name service error for name=example.com type=MX: Malformed or unexpected name server "
     b"reply", "dns"),  # Postfix: the recipient domain's DNS answer (issue 13, kind 7)
    (b"The number of messages in recipient's mailbox exceeded the local limit.", "quota"),
    (b"User not listed in public Name & Address Book", "invalid"),
    (b"Error: No valid recipients for this MM", "invalid"),
    (b"550 Domain is invalid. Please provide a valid From: header", "blocked"),
    (b"550 5.7.0 Please use the smtp server of your ISP.", "blocked"),
    (b"Sorry, you are sending to/from an address that has been blacklisted", "blocked"),
])
def test_wording(diag, kind):
    assert one(dsn(status=b"5.0.0", diag=b"smtp; " + diag)).type == kind


def test_google_groups_refusal_is_blocked_in_any_language():
    # Keyed on the refusing group's address, not on wording or the help link.
    raw = (b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n"
           b"To: news@example.org\r\nSubject: Delivery Status Notification (Failure)\r\n"
           b"X-Failed-Recipients: team@googlegroups.com\r\n\r\n"
           b"Hallo, die Gruppe (team) ist m\xc3\xb6glicherweise nicht vorhanden.\r\n"
           b"Hilfe: https://groups.google.com/support/\r\n")
    bounce = one(raw)
    assert (bounce.email, bounce.type) == ("team@googlegroups.com", "blocked")


def test_x_failed_recipients_names_the_address():
    # The notice names no address, and the failed one is also the sender.
    raw = text_bounce(b"The following address(es) failed:\r\n\r\n  save to inbox\r\n"
                      b"    mailbox is full: retry timeout exceeded\r\n",
                      b"X-Failed-Recipients: news@example.org\r\n")
    bounce = one(raw)
    assert (bounce.email, bounce.type) == ("news@example.org", "quota")


def test_bare_mailer_daemon_sender_and_mail_failed_subject():
    raw = (b"From: MAILER-DAEMON\r\nTo: news@example.org\r\nAuto-Submitted: auto-replied\r\n"
           b"Subject: mail failed, returning to sender\r\n\r\n"
           b"|---- Failed addresses follow: ----|\r\n bob@example.com ... unknown host\r\n")
    report = analyze(raw)
    assert report.kind == "bounce"
    assert [(b.email, b.type) for b in report.bounces] == [("bob@example.com", "dns")]


# --- rules from the server's own codes -------------------------------------------

def test_undefined_dsn_status_gives_way_to_the_quoted_reply_code():
    bounce = one(dsn(status=b"5.0.0", diag=b"smtp; 550 5.2.2 Requested action not taken"))
    assert (bounce.status, bounce.type) == ("5.2.2", "quota")


def test_policy_code_with_unknown_user_wording_is_invalid():
    # Words about the recipient beat the class of the code (see classify's docstring).
    bounce = one(dsn(status=b"5.0.0", diag=b"smtp; 550 5.7.1 No such user here"))
    assert (bounce.type, bounce.hard, bounce.status) == ("invalid", True, "5.7.1")


def test_bare_550_proves_no_address_dead():
    # RFC 5321 gives 550 for "mailbox not found" and "rejected for policy" alike.
    bounce = one(dsn(status=b"5.0.0", diag=b"smtp; 550 Request refused, see our web site"))
    assert (bounce.type, bounce.hard) == ("unknown", False)


def test_clear_wording_still_beats_a_bare_550():
    bounce = one(dsn(status=b"5.0.0", diag=b"smtp; 550 No such user here"))
    assert (bounce.type, bounce.hard) == ("invalid", True)


def test_unexplained_refusal_after_data_is_about_the_message():
    raw = text_bounce(b"<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 Request\r\n"
                      b"    refused (in reply to end of DATA command)\r\n")
    assert (one(raw).type, one(raw).hard) == ("spam", False)


def test_unexplained_refusal_at_mail_from_is_about_the_sender():
    raw = text_bounce(b"  bob@example.com\r\n    host mx.example.com [192.0.2.1]\r\n"
                      b"    SMTP error from remote mail server after MAIL FROM:<news@example.org>:"
                      b"\r\n    550 Request refused\r\n")
    assert (one(raw).type, one(raw).hard) == ("blocked", False)


def test_temporary_unexplained_refusal_after_data_is_not_spam():
    raw = text_bounce(b"<bob@example.com>: host mx.example.com[192.0.2.1] said: 451 Try\r\n"
                      b"    that once more (in reply to end of DATA command)\r\n")
    assert one(raw).type != "spam" and one(raw).hard is False


# --- notice wording that names no cause --------------------------------------------

def test_notice_intro_alone_gives_no_type():
    raw = (b"From: postmaster@mx.example.net\r\nTo: news@example.org\r\n"
           b"Subject: Undeliverable: News\r\n\r\n"
           b"Your message did not reach the following recipient: bob@example.com\r\n")
    bounce = one(raw)
    assert (bounce.email, bounce.type, bounce.hard) == ("bob@example.com", "unknown", False)


def test_notice_intro_leaves_the_decision_to_the_status_code():
    bounce = one(dsn(status=b"5.2.2", diag=b"smtp; Delivery to the following recipient failed"))
    assert bounce.type == "quota"


# --- DSN structure -------------------------------------------------------------------

def test_one_recipients_dsn_fields_do_not_type_another():
    # The human-readable part repeats the DSN fields (no separate delivery-status
    # part): the first recipient's lookup failure must not make the second's "dns".
    raw = (HEAD + b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
           b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
           b"Final-Recipient: rfc822; ann@example.net\r\nAction: delayed\r\n"
           b"Status: 4.4.3 (example.net: host name lookup failure)\r\n\r\n"
           b"Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\n"
           b"Status: 5.0.0\r\nDiagnostic-Code: smtp; 550 Request refused\r\n")
    found = {b.email: (b.type, b.hard) for b in analyze(raw).bounces}
    assert found == {"ann@example.net": ("host", False), "bob@example.com": ("unknown", False)}


def test_status_comment_is_the_reason_when_no_diagnostic_code():
    raw = dsn(action=b"failed", status=b"5.0.0 (mailbox full)", diag=b"")
    assert one(raw).type == "quota"


def test_multipart_without_its_boundary_is_read_as_text():
    # The declared boundary never occurs: the DSN fields are still there to read.
    raw = (HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=\"missing\"\r\n\r\n"
           b"Your message cannot be delivered.\r\n\r\n"
           b"Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\n"
           b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user\r\n\r\n"
           b"From: news@example.org\r\nTo: carol@example.com\r\nSubject: hi\r\n")
    report = analyze(raw)
    assert [(b.email, b.type) for b in report.bounces] == [("bob@example.com", "invalid")]


# --- recipients in text notices ------------------------------------------------------

def test_postfix_session_transcript():
    # Ann is refused at RCPT TO; Bob is accepted, then refused with the message.
    raw = (b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
           b"To: postmaster@mx.example.net\r\n"
           b"Subject: Postfix SMTP server: errors from relay.example.org\r\n\r\n"
           b"Transcript of session follows.\r\n\r\n"
           b" Out: 220 mx.example.net ESMTP\r\n In:  EHLO relay.example.org\r\n"
           b" Out: 250-mx.example.net\r\n Out: 250 DSN\r\n"
           b" In:  MAIL FROM:<news@example.org>\r\n Out: 250 2.1.0 Ok\r\n"
           b" In:  RCPT TO:<ann@example.net>\r\n"
           b" Out: 550 5.1.1 <ann@example.net>: Recipient address rejected\r\n"
           b" In:  RCPT TO:<bob@example.net>\r\n Out: 250 2.1.5 Ok\r\n"
           b" In:  DATA\r\n Out: 354 End data with <CR><LF>.<CR><LF>\r\n"
           b" Out: 452 4.3.1 Insufficient system storage\r\n In:  QUIT\r\n"
           b" Out: 221 2.0.0 Bye\r\n")
    report = analyze(raw)
    assert report.kind == "bounce"
    found = {b.email: (b.type, b.hard, b.status) for b in report.bounces}
    assert found == {"ann@example.net": ("invalid", True, "5.1.1"),
                     "bob@example.net": ("quota", False, "4.3.1")}


def test_daemon_notice_quoting_an_smtp_refusal_is_a_bounce():
    raw = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.org\r\n"
           b"Subject: Problem report\r\n\r\n"
           b"bob@example.com: 550 5.1.1 No such user\r\n")
    assert one(raw).email == "bob@example.com"


def test_recipients_phrase_with_words_before_the_colon():
    raw = (b"From: mailer-daemon\r\nTo: news@example.org\r\nReturn-Path: <>\r\n"
           b"Subject: There was an error sending your mail\r\n\r\n"
           b"The following recipients returned permanent errors: bob@example.com. Reason: "
           b"the server refused the message, with the error [554 5.4.6 Hop count exceeded]\r\n")
    bounce = one(raw)
    assert (bounce.email, bounce.type, bounce.hard) == ("bob@example.com", "loop", False)


def test_google_groups_link_is_no_reason():
    # A help link (or a quoted Google Groups footer) says nothing of the cause.
    raw = text_bounce(b"<bob@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1\r\n"
                      b"    User unknown (in reply to RCPT TO command)\r\n"
                      b"Help: https://groups.google.com/support/\r\n")
    assert (one(raw).type, one(raw).hard) == ("invalid", True)


def test_aol_tos_notification_is_complaint():
    raw = (b"From: scomp@aol.net\r\nTo: abuse@example.org\r\n"
           b"Subject: Client TOS Notification\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"A\"\r\n\r\n"
           b"--A\r\nContent-Type: text/plain\r\n\r\nA member reported this mail.\r\n"
           b"--A\r\nContent-Type: message/rfc822\r\n\r\n"
           b"From: news@example.org\r\nTo: bob@aol.example\r\nSubject: News\r\n\r\nHi\r\n--A--\r\n")
    report = analyze(raw)
    assert report.kind == "complaint"
    assert [(b.email, b.type) for b in report.bounces] == [("bob@aol.example", "complaint")]


@pytest.mark.parametrize("status, diag, kind", [
    # Microsoft's own X.7.xxx details refuse the sender (RFC 3463: security or policy).
    (b"5.7.129", b"smtp; 550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission", "blocked"),
    (b"5.7.17", b"smtp; 550 5.7.17 Mailbox owner has changed", "inactive"),
    (b"5.4.316", b"smtp; 550 5.4.316 Message expired, connection refused", "host"),
])
def test_unlisted_status_details_follow_their_subject(status, diag, kind):
    assert one(dsn(status=status, diag=diag)).type == kind


@pytest.mark.parametrize("diag", [
    b"smtp; 452 4.5.3 Too many invalid recipients",  # the sender's behaviour, not this address
    b"smtp; 550 5.7.1 Client host not listed in whitelist",
])
def test_words_about_the_sender_are_never_hard(diag):
    bounce = one(dsn(status=b"5.0.0", diag=diag))
    assert (bounce.type, bounce.hard) == ("blocked", False)
