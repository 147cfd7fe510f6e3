from . import test_i18n
from . import test_job_log
from . import test_security
from . import test_access_matrix
from . import test_bounce
from . import test_deliverability
from . import test_dashboard
from . import test_tour
