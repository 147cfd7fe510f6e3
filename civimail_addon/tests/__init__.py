from . import test_i18n
from . import test_job_log
from . import test_security
from . import test_test_servers
