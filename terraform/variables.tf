# ---------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------
variable "aws_region" {
  description = "AWS Region to deploy into (MWAA must support Airflow 3.3.1 there)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a Region code such as eu-west-1."
  }
}

variable "name" {
  description = "Project name; resources are named <name>-<environment>-* (the two together at most 19 characters)."
  type        = string
  default     = "covid19-etl"

  # <name>-<environment> names the RDS instance (no "--", no trailing "-"), the bucket, the
  # MWAA environment, the KMS alias, the SNS topic and the IAM roles: the modules take it as is.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,13}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2-15 lower-case letters, digits or single '-', starting with a letter and not ending with '-'."
  }

  validation {
    condition     = length("${var.name}-${var.environment}") <= 19
    error_message = "name and environment together (<name>-<environment>) must be at most 19 characters: the database's monitoring role is named <name>-<environment>-warehouse-rds-mon-* and IAM allows 38 characters before the generated suffix."
  }
}

variable "environment" {
  description = "Deployment stage, part of every name (dev, staging, prod, ...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,7}$", var.environment))
    error_message = "environment must be 2-8 lower-case letters or digits, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.tags) : !startswith(lower(k), "aws:")])
    error_message = "Tag keys must not start with aws: (reserved)."
  }
}

variable "permissions_boundary_arn" {
  description = "Optional IAM permissions boundary for the roles this configuration creates."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN."
  }
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------
variable "network_mode" {
  description = "\"nat\": private subnets reach the internet through NAT (needed to download the NYT/JHU files and install requirements from PyPI). \"private_only\": no internet path, interface VPC endpoints instead (then mirror the sources; `make deploy` ships the wheels in plugins.zip)."
  type        = string
  default     = "nat"

  validation {
    condition     = contains(["nat", "private_only"], var.network_mode)
    error_message = "network_mode must be \"nat\" or \"private_only\"."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the new VPC (/16 to /22)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(regex("^[0-9.]+/(1[6-9]|2[0-2])$", var.vpc_cidr)) && can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /22."
  }
}

variable "availability_zones" {
  description = "Two Availability Zones for the subnets; empty picks the first two of the Region."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || (length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2)
    error_message = "availability_zones must be empty or list exactly two different zones (MWAA needs two subnets in two zones)."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheaper) instead of one per AZ (nat mode only)."
  type        = bool
  default     = true
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow logs in CloudWatch, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

# ---------------------------------------------------------------------------------------------
# Bundle bucket
# ---------------------------------------------------------------------------------------------
variable "bucket_force_destroy" {
  description = "Let terraform destroy delete the bundle and access-log buckets with every object version (raw archive included)."
  type        = bool
  default     = false
}

variable "raw_expiration_days" {
  description = "Delete archived raw downloads after this many days; 0 keeps them (re-running an old day needs them)."
  type        = number
  default     = 0

  validation {
    condition     = var.raw_expiration_days == 0 || var.raw_expiration_days >= 365
    error_message = "raw_expiration_days must be 0 (never) or at least 365."
  }
}

# ---------------------------------------------------------------------------------------------
# MWAA
# ---------------------------------------------------------------------------------------------
variable "airflow_version" {
  description = "Apache Airflow version of the MWAA environment."
  type        = string
  default     = "3.3.1"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.[0-9]+$", var.airflow_version))
    error_message = "airflow_version must be an Airflow 3 version such as 3.3.1 (the DAG uses the Airflow 3 SDK)."
  }
}

variable "mwaa_environment_class" {
  description = "MWAA environment class (mw1.micro suits one small daily DAG; mw1.small is the safe default)."
  type        = string
  default     = "mw1.small"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.mwaa_environment_class)
    error_message = "mwaa_environment_class must be one of mw1.micro, mw1.small, mw1.medium, mw1.large, mw1.xlarge, mw1.2xlarge."
  }
}

variable "mwaa_min_workers" {
  description = "Minimum number of MWAA workers."
  type        = number
  default     = 1

  validation {
    condition     = var.mwaa_min_workers >= 1
    error_message = "mwaa_min_workers must be at least 1."
  }
}

variable "mwaa_max_workers" {
  description = "Maximum number of MWAA workers."
  type        = number
  default     = 2

  validation {
    condition     = var.mwaa_max_workers >= var.mwaa_min_workers && var.mwaa_max_workers <= 25
    error_message = "mwaa_max_workers must be between mwaa_min_workers and 25."
  }
}

variable "webserver_access_mode" {
  description = "PRIVATE_ONLY: the Airflow UI is reachable only from inside the VPC. PUBLIC_ONLY: from the internet, still behind AWS IAM sign-in."
  type        = string
  default     = "PRIVATE_ONLY"

  validation {
    condition     = contains(["PRIVATE_ONLY", "PUBLIC_ONLY"], var.webserver_access_mode)
    error_message = "webserver_access_mode must be PRIVATE_ONLY or PUBLIC_ONLY."
  }
}

variable "webserver_ingress_cidrs" {
  description = "CIDRs (VPN, bastion, peered VPC) allowed to reach the private Airflow UI on 443."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.webserver_ingress_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "webserver_ingress_cidrs must be IPv4 CIDRs other than 0.0.0.0/0."
  }
}

variable "mwaa_weekly_maintenance_window_start" {
  description = "Start of MWAA's weekly maintenance window, DAY:HH:MM UTC."
  type        = string
  default     = "SUN:03:00"

  validation {
    condition     = can(regex("^(MON|TUE|WED|THU|FRI|SAT|SUN):([01][0-9]|2[0-3]):(00|30)$", var.mwaa_weekly_maintenance_window_start))
    error_message = "mwaa_weekly_maintenance_window_start must look like SUN:03:00 (minutes 00 or 30)."
  }
}

variable "mwaa_log_level" {
  description = "CloudWatch log level of every Airflow component."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"], var.mwaa_log_level)
    error_message = "mwaa_log_level must be CRITICAL, ERROR, WARNING, INFO or DEBUG."
  }
}

variable "etl_start_date" {
  description = "First logical date of the covid19_etl DAG (ISO date). With catchup, every day from here on is run once, in order."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.etl_start_date)) && can(formatdate("YYYY-MM-DD", "${var.etl_start_date}T00:00:00Z"))
    error_message = "etl_start_date must be a real calendar date in ISO format, e.g. 2023-03-01."
  }
}

variable "etl_retry_window_minutes" {
  description = "How long the covid19_etl tasks retry transient faults (source, warehouse or SNS down) before a day fails, in minutes; exported as COVID19_ETL_RETRY_WINDOW_MINUTES."
  type        = number
  default     = 180

  validation {
    condition     = var.etl_retry_window_minutes > 0 && var.etl_retry_window_minutes <= 1440
    error_message = "etl_retry_window_minutes must be more than 0 and at most 1440 (a day)."
  }
}

variable "etl_landing_deadline_minutes" {
  description = "How long after a day's data interval ends its load must have committed before covid19_etl_watchdog alerts, in minutes; exported as COVID19_ETL_LANDING_DEADLINE_MINUTES."
  type        = number
  default     = 360

  validation {
    condition     = var.etl_landing_deadline_minutes > 0 && var.etl_landing_deadline_minutes <= 2880
    error_message = "etl_landing_deadline_minutes must be more than 0 and at most 2880 (two days); keep it above etl_retry_window_minutes, or a healed outage is reported late."
  }
}

variable "scheduler_down_alarm_minutes" {
  description = "After how many minutes without a heartbeat from the MWAA scheduler a CloudWatch alarm reports it on the notification topic (the watchdog DAG cannot: it runs on that scheduler). A multiple of 5. An environment update restarts the scheduler: raise it if deployments raise the alarm."
  type        = number
  default     = 30

  validation {
    condition     = var.scheduler_down_alarm_minutes >= 5 && var.scheduler_down_alarm_minutes <= 1440 && var.scheduler_down_alarm_minutes % 5 == 0
    error_message = "scheduler_down_alarm_minutes must be a multiple of 5 from 5 to 1440 (a day)."
  }
}

variable "extra_airflow_configuration_options" {
  description = "Additional Airflow configuration options for MWAA (section.key = value)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_airflow_configuration_options) : can(regex("^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$", k))])
    error_message = "Configuration option keys must look like section.key in lower case."
  }

  validation {
    condition     = alltrue([for k in keys(var.extra_airflow_configuration_options) : !startswith(k, "secrets.")])
    error_message = "The secrets.* options are managed by this configuration."
  }
}

# ---------------------------------------------------------------------------------------------
# Airflow Connections and Variables (Secrets Manager)
# ---------------------------------------------------------------------------------------------
variable "secrets_prefix" {
  description = "Secrets Manager prefix: connections under <prefix>/connections, variables under <prefix>/variables. Keep \"airflow\" unless two environments share an account."
  type        = string
  default     = "airflow"

  validation {
    condition     = can(regex("^airflow(/[A-Za-z0-9_-]+)*$", var.secrets_prefix))
    error_message = "secrets_prefix must be \"airflow\" or start with \"airflow/\" (the execution role may read airflow/* only)."
  }
}

variable "extra_airflow_variables" {
  description = "Additional Airflow Variables, e.g. covid19_nyt_url and covid19_jhu_url to override the DAG's default source URLs."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_airflow_variables) : can(regex("^covid19_[a-z0-9_]+$", k)) && !contains(["covid19_sns_topic_arn", "covid19_raw_root"], k)])
    error_message = "Keys must match ^covid19_ (only those are looked up in Secrets Manager) and must not redefine covid19_sns_topic_arn or covid19_raw_root."
  }
}

# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------
variable "db_engine_version" {
  description = "PostgreSQL version (major, or major.minor)."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^1[3-9](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be a PostgreSQL version from 13 on, e.g. \"17\" or \"17.5\"."
  }
}

variable "db_allow_major_version_upgrade" {
  description = "Allow db_engine_version to move to a new PostgreSQL major version (set only for that apply)."
  type        = bool
  default     = false
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.micro."
  }
}

variable "db_allocated_storage" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20
    error_message = "db_allocated_storage must be at least 20 GiB."
  }
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage > var.db_allocated_storage && var.db_max_allocated_storage <= 65536
    error_message = "db_max_allocated_storage must be above db_allocated_storage and at most 65536 GiB."
  }
}

variable "db_name" {
  description = "Database name (the connection's schema field)."
  type        = string
  default     = "covid19"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be a lower-case identifier of at most 63 characters."
  }
}

variable "db_username" {
  description = "Master user name used by the Airflow connection."
  type        = string
  default     = "covid19_etl"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_username)) && !contains(["postgres", "admin", "rdsadmin", "root"], var.db_username)
    error_message = "db_username must be a lower-case identifier and not a reserved name."
  }
}

variable "db_password_version" {
  description = "Increment to rotate the database password: RDS and the covid19_warehouse secret get a new one in the same apply."
  type        = number
  default     = 1

  validation {
    condition     = var.db_password_version >= 1 && floor(var.db_password_version) == var.db_password_version
    error_message = "db_password_version must be a positive integer."
  }
}

variable "db_multi_az" {
  description = "Run a Multi-AZ standby (recommended for production; doubles the instance cost)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35 (0 would disable backups)."
  }
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion (set false, apply, then destroy)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------
variable "notification_emails" {
  description = "E-mail addresses subscribed to the SNS topic (each confirms by mail)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "Every entry must be an e-mail address."
  }
}

# ---------------------------------------------------------------------------------------------
# CI/CD
# ---------------------------------------------------------------------------------------------
variable "github_repository" {
  description = "owner/name of the GitHub repository whose main branch may deploy the bundle through OIDC; null creates no deploy role."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false if it already exists; then set existing_github_oidc_provider_arn)."
  type        = bool
  default     = true
}

variable "existing_github_oidc_provider_arn" {
  description = "ARN of the existing token.actions.githubusercontent.com OIDC provider, when create_github_oidc_provider is false."
  type        = string
  default     = null

  validation {
    condition     = var.existing_github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token.actions.githubusercontent.com$", var.existing_github_oidc_provider_arn))
    error_message = "existing_github_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }

  validation {
    condition     = var.github_repository == null || var.create_github_oidc_provider || var.existing_github_oidc_provider_arn != null
    error_message = "With create_github_oidc_provider = false, set existing_github_oidc_provider_arn."
  }
}
