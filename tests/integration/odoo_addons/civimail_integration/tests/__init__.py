from . import test_test_servers
from . import test_bounce
from . import test_mail_account
from . import test_send_mailings
from . import test_deliverability
from . import test_smtp_tls
from . import test_verp_requests
from . import test_provider_webhooks
