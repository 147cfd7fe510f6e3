"""CiviCRM's seed list of bounce-reason patterns, plus the codes this project adds.

Every pattern of CiviCRM's ``civicrm_mailing_bounce_pattern`` seed (and its
upgrade additions) has an equivalent here, sometimes under a finer type of
this project: sender-side refusals CiviCRM files under Relay, Dns or Spam
("cannot find your hostname", "reverse dns entry", "blacklisted", "sender was
rejected", "delivery not authorized" - the RFC 3463 X.7.1 text) are
``blocked``; unknown hosts are ``dns``; qmail's "allowed rcpthosts" and "not a
gateway" are ``relay``; "no route to host" is ``host``. CiviCRM's complaint
markers (AOL "Client TOS Notification", Microsoft JMRP
``X-HmXmrOriginalRecipient``, "abuse report") are recognised by :mod:`.arf` as
complaints, not as bounce wording. The notice intros CiviCRM counts as Invalid
("did not reach the following recipient", "cannot deliver", "delivery to the
following recipients failed") are typed ``unknown``: they head notices of
every kind of failure, so the status codes decide.
"""

from __future__ import annotations

# Order matters: the first matching pattern wins. Specific sender-side and
# content rejections come before the broad address wording ("rejected",
# "does not exist") that they often contain.
DEFAULT_PATTERNS: list[tuple[str, str]] = [
    # --- relay
    ("relay", r"relay(ing)? (access )?(denied|not permitted|prohibited|not allowed)"),
    ("relay", r"not (permitted|allowed) to relay|message (could not|will not) be relayed|"
              r"we do not relay|unable to relay|relay not permitted|no relaying|"
              r"not a gateway|allowed rcpthosts|not configured to relay mail|"
              r"relayed mail to .+? not allowed"),
    # Exim's hedge "The account or domain may not exist, they may be blacklisted,
    # or missing the proper dns entries" comes from a failed domain lookup.
    ("dns", r"account or domain may not exist"),
    # Amazon SES: the sending identity is not verified, so SES will not relay.
    ("relay", r"identities failed the check"),
    # --- blocked: the SENDER (IP, domain, authentication) is refused.
    # Mailing lists (Google Groups, Mailman) refusing a non-member's post.
    ("blocked", r"permission to post|not allowed to post"),
    # A filter the recipient set up refuses the message (CiviCRM: Spam); the
    # sender-side "blocked by" wording below would otherwise claim it.
    ("spam", r"blocked by a user configured filter|does not conform to our e-?mail policy"),
    ("blocked", r"(spf|dkim|dmarc)\b.{0,40}?\b(fail|reject|policy|not pass|check)"),
    ("spam", r"rejected for policy reasons|policy violation"),
    ("blocked", r"authentication .{0,20}(failed|failure)|reputation"),
    ("blocked", r"(unauthenticated|unverif(ied|yable)) (e-?mail|sending|sender|ip)|"
                r"(does not have|lacks|without) authentication information|"
                r"fails? to pass (\w+ ){0,2}authentication"),
    ("blocked", r"sender policy framework|\bspf\b.{0,20}(record|violation)|not designated"),
    ("blocked", r"(listed|blocked|black-?listed) (at|on|in|by) .{0,60}?"
                r"(spamhaus|spamcop|barracuda|sorbs|rbl|dnsbl|blocklist|block list|blacklist)"),
    ("blocked", r"\b(rbl|dnsbl|spamhaus|spamcop|sorbs|barracudacentral)\b"),
    ("blocked", r"reverse dns|\bno ptr\b|ptr record|reverse (look-?up|resolv)|"
                r"sender ip must resolve|"
                r"(ip|client) address .{0,30}(not|no) .{0,20}(resolve|dns)|"
                r"(cannot|can't|could not) find your hostname|ip name (lookup|possibly forged)"),
    ("blocked", r"(poor|bad|low) (ip |sender |domain )?reputation|reputation (block|too low)"),
    ("blocked", r"sender (address )?(rejected|refused|denied|blocked|verify failed)|"
                r"sender (is )?(not allowed|on .{0,20}block)|envelope sender|"
                r"(rejected|blocked|refused) .{0,20}\bsender\b|domain of sender address|"
                r"sender domain .{0,30}(not|does not|doesn't) (exist|resolve)|"
                r"mail from .{0,40}(rejected|refused|not accepted)"),
    # Spam measured from the sender's IP (Gmail 4.7.28 "unusual rate of
    # unsolicited mail originating from your IP", Free "Too many spams from
    # your IP"): the sender's reputation, even when the answer is a rate limit.
    # Proofpoint and others answer a blocked IP with "554 Blocked - see ...".
    ("blocked", r"^\W*[45]\d\d[ -](\d\.\d{1,3}\.\d{1,3} )?blocked\b|"
                r"too many (invalid|bad|unknown) (recipients|users|addresses)|"
                r"not (listed|found) in (our |the |my )?(white|allow)[ -]?list|"
                r"(spams?|unsolicited (e-?)?mail) (\w+ ){0,3}(from|originating from) your ip|"
                r"(ip|address|host|network|domain) (\w+ ){0,3}(is )?(on (our|the|a) )?"
                r"block[ -]?list(ed)?\b|on (our|the|a) block ?list|anti-?spoofing|"
                r"\bspoof(ed|ing)\b|sender (address )?(is )?not allowed"),
    # The receiving server limits how often the sender may connect or send
    # (QQ "Ip frequency limited", "too many connections"): the recipient's
    # server is busy for us, not refusing the address or the content.
    # Greylisting defers every unknown sender once, by design.
    ("host", r"grey-?listed|grey-?listing|gray-?listed|gray-?listing|"
             r"(ip|connection|connect|sending) frequency limit|frequency limited|"
             r"too many (connections|concurrent|simultaneous)|rate limit(ed|ing)?|"
             r"sending too fast|receiving mail at a rate|too (many|much) (mail|messages) "
             r"(from|too fast)"),
    # Words that say the recipient does not exist decide before any policy,
    # content or sender wording of the same reply (see classify's docstring).
    # Microsoft documents "550 5.4.1 Recipient address rejected: Access denied"
    # as Directory-Based Edge Blocking of a recipient missing from the
    # directory of an Exchange Online organisation.
    # A local delivery program failed (Exim pipe, procmail): the receiving system's
    # fault, whatever it says of the user.
    ("host", r"\bpipe to \||\bprocmail:"),
    ("invalid", r"5\.4\.1 recipient address rejected: access denied|"
                r"recipient address rejected: access denied\. as\(\d+\)|"
                r"(no such|unknown|invalid) (user|recipient|mailbox|local[ -]?part|account)\b|"
                r"(user|recipient|mailbox|addressee) (unknown|does not exist|doesn't exist|"
                r"not found|not exist)|no mailbox (here |found)?|"
                r"mailbox (not found|does not exist)|"
                r"not an? (active|valid) (e-?mail )?(address|mailbox|user)|"
                r"(rcpt|recipient|address|mailbox|user) <?[^\s<>@]{1,64}@[^\s<>]{1,255}>? "
                r"(does not|doesn't) exist"),
    ("blocked", r"(your|the sending|sending|client|connecting) (ip|host|server|network|domain)"
                r".{0,60}?(blocked|blacklisted|listed|banned|rejected|refused|not allowed|"
                r"not permitted|block list|has been)"),
    ("blocked", r"\b(ip|host|domain|network) .{0,30}?(is )?(black-?listed|blocked|banned)|"
                r"blocked using|blocked by|(temporarily |permanently )?(deferred|blocked) due to|"
                r"access denied|not accepting mail from|connection rejected (by|from)|"
                r"rejected due to|administrative prohibition|\bbanned\b|"
                r"service permits .{0,20}unverifyable|authentication (failed|failure)|"
                r"not authorized to send|dynamic(ally)? (assigned )?ip|residential ip|"
                r"helo .{0,40}(rejected|invalid|refused)|too many (invalid|bad) recipients|"
                r"black-?listed|use the smtp server of your isp|provide a valid from|"
                r"refused to\s+talk to me|sender was rejected|open relay|"
                r"delivery not authori[sz]ed"),
    # --- loop
    ("loop", r"(mail|routing) loop|too many hops|loops back to myself|"
             r"duplicated message-id|hop count exceeded|loop detected|excessive recursion|"
             r"forwarded more than the maximum allowed times"),
    # --- quota (CiviCRM "Quota" + message-size limits)
    ("quota", r"(disk(space)?|over the allowed|exceed(ed|s)?|storage) quota|522_mailbox_full|"
              r"exceeds allowed message count|file too large|full mailbox|"
              r"(mail|in)box ((for user \w+ )?is )?full|mailbox size limit exceeded|"
              r"out of disk space|over( (his|her))? quota|quota (exceeded|violation)|"
              r"mailfolder is full|space (not available|full)|mailbox.{0,20}full|"
              r"insufficient (system )?storage|(message|mail) (size|is too (big|large))|"
              r"(message|mail) (exceeds|too (big|large))|size (limit|exceeds)|"
              r"exceeded storage|quota|insufficient disk space|disk space|"
              r"user has exceeded|has exceeded (his|her|the)|mailbox exceeded|"
              r"mailbox( exceeds allowed)? size|no space left for this user|"
              r"recipient storage full|not able to receive more mail|"
              r"not enough (storage|space|disk)|line limit exceeded|out of storage( space)?|"
              r"zu viele (e-?mails|mails|nachrichten)|postfach (ist )?(voll|überfüllt)|"
              r"speicherplatz|bo[iî]te (aux lettres )?(est )?pleine|casella (di posta )?piena|"
              r"buz[oó]n (est[aá] )?lleno"),
    # --- syntax (CiviCRM "Syntax" + protocol errors)
    ("syntax", r"nonstandard smtp line terminator|syntax error|"
               r"(bad|invalid|illegal|malformed) (command|sequence|header|message|mime)|"
               r"unrecognized command|command (not recognized|unrecognized)|"
               r"line too long|not (rfc|rfc-?\d+) compliant|rfc ?\d+ .{0,30}(violation|compliant)|"
               r"bare lf|improper (use|command)|message header size|not conform|"
               r"multiple .{0,20}addresses in from|command parameter not implemented|"
               r"unknown smtp code"),
    # --- spam: the CONTENT was refused (spam, virus, policy).
    ("spam", r"(bulk( e-?mail)|content|attachment blocking|virus|mail system) filters?|"
             r"(hostile|questionable|unacceptable) content|anti-?spam (polic\w+|software)|"
             r"anti-?virus gateway has detected|blocked message|content denied|"
             r"detected (spam|suspicious)|is on a list of spammers|"
             r"message (content rejected|contains (a )?virus|refused)|"
             r"our spam filter|rejected (as|for|by) .{0,30}spam|"
             r"spam ?(check|filter|detected|violation|message|score|reduction software)|"
             r"content control|message looks suspicious|"
             r"unsolicited (e-?mail|mail|bulk|commercial)|spamassassin|"
             r"violat(es|ion of) (our )?(\w+ )?(polic(y|ies)|terms)|"
             r"(likely|looks like|identified as|considered|classified as|suspected|probable) "
             r".{0,20}(spam|junk|unsolicited)|\bspam\b|\bvirus\b|malware|phishing|"
             r"(content|message) .{0,20}(rejected|blocked|not accepted|policy)|"
             r"(policy|policies) (violation|reasons|rejection)|"
             r"(prohibited|forbidden|blocked|banned) (attachment|content|file)|"
             r"mail filter|\bfiltered\b(?!@)|rejected by .{0,20}(filter|policy)|"
             r"address .+? has not been verified|"
             r"doesn't accept messages from unverified sender"),
    # Local delivery failures (Postfix: a broken DNS answer; Exim: a pipe
    # command failed) are the receiving system's, not a missing domain or user.
    ("host", r"no such file or directory"),
    # --- dns: the recipient DOMAIN does not exist / accepts no mail.
    ("dns", r"(couldn't|could not|can't|unable to) find (a |any )?mail exchanger|"
            r"indicated no smtp service|bad destination system|unrouteable address|"
            r"(malformed|unexpected) (or unexpected )?name server reply|name service error|"
            r"domain (is )?(not reachable|unreachable)|"
            r"(?<![@\w.-])[a-z0-9-]+(\.[a-z0-9-]+)+\.[a-z]{2,} does not exist|"
            r"name(server entry| lookup failure)|"
            r"no (mail server|matches to nameserver query|dns entries)|"
            r"host or domain name not found|unable to resolve mx record for|"
            r"(unknown|unrouteable|unresolvable|invalid) (mail )?(domain|host)|"
            r"domain .{0,40}(not found|does not exist|doesn't exist|no longer exist|"
            r"not exist|does not accept mail|has no mx)|"
            r"host (unknown|not found)|(unknown|not local) host|no mx|null mx|"
            r"couldn't find any host named|invalid host name|no such domain|"
            r"does not accept mail|accepts no mail|name or service not known|"
            r"domain name (not|does not)|nxdomain|dns (error|failure)|"
            r"isn't in my control/locals file|not a known domain"),
    # --- inactive: the account exists but is disabled, suspended or moved.
    ("inactive", r"(my )?e-?mail( address)? has changed|account (inactive|expired|deactivated|"
                 r"disabled|suspended|has been disabled|is disabled|blocked)|"
                 r"account is (locked|not active|inactive|suspended|blocked|frozen)|"
                 r"mailbox is frozen|"
                 r"changed \w+( e-?mail)? address|deactivated mailbox|disabled or discontinued|"
                 r"inactive (user|mailbox|account)|is inactive on this domain|"
                 r"mail receiving disabled|mail( ?)address is administrative?ly disabled|"
                 r"mailbox (temporarily disabled|currently suspended|is disabled|disabled|"
                 r"inactive|is inactive|has been disabled|suspended)|"
                 r"no longer (accepting mail|on server|in use|with|employed|on staff|works for|"
                 r"using this account|active|valid|available)|"
                 r"not accepting (mail|messages)|please use my new e-?mail address|"
                 r"this address no longer accepts mail|user account (suspended|disabled)|"
                 r"(user|recipient|address|mailbox) (has )?moved|has moved|"
                 r"(is|been) (disabled|suspended|deactivated)|"
                 r"(?<!delivery temporarily )suspended|deactivated|\blocked\b"),
    # --- invalid: the MAILBOX does not exist.
    ("invalid", r"(user|recipient( name)?) is not recognized|554 delivery error|"
                r"address does not exist|address(es)? could not be found|addressee unknown|"
                r"bad destination|badly formatted address|can't open mailbox for|"
                r"destination addresses were unknown|"
                r"does not like recipient|does not specify a valid notes mail file|"
                r"illegal alias|invalid (mailbox|(e-?mail )?address|recipient|final delivery)|"
                r"invalid( or unknown)?( virtual)? user|"
                r"(mail )?delivery (to this user )?is not allowed|"
                r"mailbox (not found|unavailable|name not allowed|does not exist|"
                r"doesn't exist)|message could not be forwarded|"
                r"missing or malformed local(-| )part|no e-?mail address registered|"
                r"no such (mail drop|mailbox( \w+)?|(e-?mail )?address|recipient|(local )?user|"
                r"person)( here)?|no mailbox (here )?by that name|"
                r"not (listed in|found in) (\w+ )?directory|not listed in|"
                r"not present in directory entry|"
                r"not listed in public name & address book|"  # Lotus Domino
                r"not a valid( (user|mailbox))?|"
                r"not our customer|not known at this site|"
                r"recipient not in route list|recipient (is )?(unknown|does not exist|not found)|"
                r"unrecognized recipient|unregistered address|unavailable mailbox|"
                r"unavailable to take delivery of the message|"
                r"user('s e-?mail name is)? not found|^validation failed for:|"
                r"unknown (local( |-)part|recipient|address(ee)?|user|mailbox)|"
                r"user (unknown|does not exist|doesn't exist|doesn't have an? \w+ account|"
                r"not found|not exist)|undeliverable to|"
                r"this user doesn't have a \S+ (account|address)|does not exist|doesn't exist|"
                r"no such|unknown or illegal|not a known user|address (is )?unknown|"
                r"mailbox unavailable|couldn't be found|could not be found|"
                r"(account|mailbox|address) (is )?(invalid|not valid)|"
                r"no longer exists?|user not local|invalid address|no valid recipients"),
    # --- host: the recipient's server failed, timed out or the message expired.
    ("host", r"all hosts have been failing|did not accept our requests|mailer error|"
             r"connection (refused|timed out|reset|dropped|lost)|"
             r"not connected|error involving remote host|host unknown|local configuration error|"
             r"(server|host) is (down or unreachable|not responding|busy|unavailable)|"
             r"not delivered within|transaction failed|"
             r"too many (connections|concurrent)|unable to connect|lost connection|"
             r"conversation with [^ ]* timed out while|server requires authentication|"
             r"authentication (is )?required|could not be delivered within|"
             r"retry (timeout|time) (exceeded|reached)|retry time not reached|timed? ?out|expired|"
             r"(gave|giving) up|too long in (the )?queue|undeliverable for \d+|"
             r"temporar(y|ily)|try again later|network (error|is unreachable)|"
             r"no route to host|unreachable|not reachable|does not support (tls|starttls)|"
             r"mailer error|internal (server )?error|"
             r"system (error|failure|problem)|i/o error|(mail )?server error|"
             r"resources? (temporarily )?unavailable|"
             r"service (currently )?(not available|unavailable)|"
             r"delivery (time|has) (expired|been delayed)|queue|delayed|"
             r"sending too fast|rate limit|receiving mail at a rate|too many recipients|"
             r"too (many|much) (mail|messages) (from|too fast)"),
    # --- away: CiviCRM "Away" (vacation replies quoted in bounces)
    ("away", r"(be|am)? (out of|away from) (the|my)? (office|computer|town)|"
             r"i am on vacation|out of (the )?office|auto(matic)?[ -]?reply|vacation"),
    # --- unknown: notice intros that name no cause (Exchange, CiviCRM "Invalid").
    # Last, and read by the classifier as "no information", so codes decide.
    # Lotus Domino in Japanese: "... は Domino ディレクトリにありません" (not in the directory).
    ("invalid", r"ディレクトリにありません|宛先.{0,20}(見つかりません|存在しません)"),
    ("unknown", r"did not reach the following recipient|cannot deliver|"
                r"delivery to the following recipients? failed"),
]
