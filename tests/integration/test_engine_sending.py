"""engine.smtp_out and send_policy against the real SMTP sink: transactions, retry, windows."""

import smtplib
from datetime import datetime
from email.message import EmailMessage

import pytest

from civimail_addon.engine.mime_out import fill_opt_out, list_unsubscribe
from civimail_addon.engine.send_policy import RetryPolicy, window_end, window_start
from civimail_addon.engine.smtp_out import PERMANENT, SENT, TEMPORARY, deliver


@pytest.fixture
def session(smtp_sink):
    connection = smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10)
    yield connection
    try:
        connection.quit()
    except smtplib.SMTPException:
        connection.close()


def data(to="ada@example.com"):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "news@example.org", to, "Hi"
    message.set_content("Hello")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def test_accepted_message_is_sent_with_the_envelope(session, smtp_sink):
    delivery = deliver(session, "return+b.1.abc@example.org", ["ada@example.com"], data())
    assert delivery.outcome == SENT
    (received,) = smtp_sink.wait_for(1)
    assert received.mail_from == "return+b.1.abc@example.org"
    assert received.rcpt_tos == ["ada@example.com"]


@pytest.mark.parametrize("refusal", [
    (550, "5.1.1 User unknown", "rcpt", PERMANENT),
    (451, "4.3.0 Try later", "rcpt", TEMPORARY),
    (554, "5.7.1 Spam", "data", PERMANENT),
    (553, "5.7.8 Sender refused", "mail", PERMANENT),
])
def test_refusals_say_code_stage_and_outcome(session, smtp_sink, refusal):
    code, text, stage, outcome = refusal
    address = "return+b.1.abc@example.org" if stage == "mail" else "ada@example.com"
    smtp_sink.reject(address, code, text, stage=stage)
    delivery = deliver(session, "return+b.1.abc@example.org", ["ada@example.com"], data())
    assert (delivery.outcome, delivery.code, delivery.stage) == (outcome, code, stage)
    assert delivery.response == f"{code} {text} ({stage.upper()})"
    assert not delivery.session_broken
    session.rset()  # the session is still usable
    assert deliver(session, "x@example.org", ["bob@example.com"], data()).outcome == SENT


def test_dropped_connection_is_temporary_and_breaks_the_session(session, smtp_sink):
    smtp_sink.drop_connection_on("ada@example.com")
    delivery = deliver(session, "x@example.org", ["ada@example.com"], data())
    assert delivery.outcome == TEMPORARY
    assert delivery.stage == "connection"
    assert delivery.session_broken
    assert smtp_sink.count() == 0


def test_retry_policy_backs_off_exponentially_and_gives_up():
    policy = RetryPolicy(max_attempts=3, base=60, factor=2, maximum=200)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [60, 120, 200, 200]
    assert [policy.gives_up(n) for n in (1, 2, 3)] == [False, False, True]


def test_limit_windows():
    now = datetime(2025, 3, 13, 15, 42, 7)  # a Thursday
    assert window_start("hour", now) == datetime(2025, 3, 13, 15)
    assert window_start("day", now) == datetime(2025, 3, 13)
    assert window_start("week", now) == datetime(2025, 3, 10)
    assert window_end("week", now) == datetime(2025, 3, 17)
    with pytest.raises(ValueError):
        window_start("month", now)


def test_opt_out_token_filled_as_written_and_as_an_escaped_link():
    address = "r+o.7.0123456789abcdef@example.org"
    body = ('<a href="mailto:%7Baction.optOut%7D">stop</a> or write to {action.optOut}; '
            "{action.optout} too")
    assert fill_opt_out(body, address) == (
        f'<a href="mailto:{address}">stop</a> or write to {address}; {address} too')
    assert fill_opt_out("no token {action.unsubscribe}", address) == (
        "no token {action.unsubscribe}")
    assert fill_opt_out("", address) == "" and fill_opt_out(None, address) is None


def test_opt_out_token_keeps_the_text_type():
    class Html(str):  # as markupsafe.Markup: a safe HTML string must stay one
        pass

    filled = fill_opt_out(Html("<p>{action.optOut}</p>"), "r+o.1.0123456789abcdef@x.org")
    assert type(filled) is Html and filled == "<p>r+o.1.0123456789abcdef@x.org</p>"


def test_list_unsubscribe_has_url_then_mailto():
    assert list_unsubscribe("https://x/u", "r+b.1.a@example.org") == (
        "<https://x/u>, <mailto:r+b.1.a@example.org?subject=unsubscribe>")
