from . import civimail_test_email
from . import civimail_header_analysis
from . import civimail_header_analysis_hop
from . import civimail_header_analysis_verdict
