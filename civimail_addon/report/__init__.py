from . import civimail_mailing_report
from . import civimail_job_status
