from . import civimail_job_log
from . import ir_cron
from . import res_config_settings
