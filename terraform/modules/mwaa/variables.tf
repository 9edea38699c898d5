variable "name" {
  description = "Name of the MWAA environment."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][0-9a-zA-Z_-]{0,59}$", var.name))
    error_message = "name must start with a letter and contain only letters, digits, '-' and '_' (at most 60 characters, leaving room for log-group names)."
  }
}

variable "airflow_version" {
  description = "Apache Airflow version of the environment."
  type        = string
  default     = "3.3.1"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.[0-9]+$", var.airflow_version))
    error_message = "airflow_version must be an Airflow 3 version such as 3.3.1 (the DAG uses the Airflow 3 SDK)."
  }
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.environment_class)
    error_message = "environment_class must be one of mw1.micro, mw1.small, mw1.medium, mw1.large, mw1.xlarge, mw1.2xlarge."
  }
}

variable "min_workers" {
  description = "Minimum number of workers."
  type        = number
  default     = 1

  validation {
    condition     = var.min_workers >= 1
    error_message = "min_workers must be at least 1."
  }
}

variable "max_workers" {
  description = "Maximum number of workers (autoscaling ceiling)."
  type        = number
  default     = 2

  validation {
    condition     = var.max_workers >= var.min_workers && var.max_workers <= 25
    error_message = "max_workers must be between min_workers and 25."
  }
}

variable "webserver_access_mode" {
  description = "PRIVATE_ONLY (UI reachable only from inside the VPC) or PUBLIC_ONLY (internet, still behind IAM login)."
  type        = string
  default     = "PRIVATE_ONLY"

  validation {
    condition     = contains(["PRIVATE_ONLY", "PUBLIC_ONLY"], var.webserver_access_mode)
    error_message = "webserver_access_mode must be PRIVATE_ONLY or PUBLIC_ONLY."
  }
}

variable "webserver_ingress_cidrs" {
  description = "CIDRs (VPN, bastion, peered VPC) allowed to reach the private web server on 443."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.webserver_ingress_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "webserver_ingress_cidrs must be IPv4 CIDRs other than 0.0.0.0/0."
  }
}

variable "weekly_maintenance_window_start" {
  description = "Start of the weekly maintenance window, DAY:HH:MM in UTC."
  type        = string
  default     = "SUN:03:00"

  validation {
    condition     = can(regex("^(MON|TUE|WED|THU|FRI|SAT|SUN):([01][0-9]|2[0-3]):(00|30)$", var.weekly_maintenance_window_start))
    error_message = "weekly_maintenance_window_start must look like SUN:03:00 (minutes 00 or 30)."
  }
}

variable "log_level" {
  description = "CloudWatch log level for every Airflow component."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"], var.log_level)
    error_message = "log_level must be CRITICAL, ERROR, WARNING, INFO or DEBUG."
  }
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string

  validation {
    condition     = can(regex("^vpc-", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Exactly two private subnets in two AZs."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) == 2
    error_message = "MWAA needs exactly two private subnets."
  }
}

variable "bucket_id" {
  description = "Name of the bundle bucket."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the bundle bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN."
  }
}

variable "kms_key_arn" {
  description = "Project KMS key (bucket, topic and secrets are encrypted with it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "sns_topic_arn" {
  description = "The one topic the DAG may publish to."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:", var.sns_topic_arn))
    error_message = "sns_topic_arn must be an SNS topic ARN."
  }
}

variable "secrets_prefix" {
  description = "Secrets Manager prefix the execution role may read (<prefix>/*)."
  type        = string
  default     = "airflow"

  validation {
    condition     = can(regex("^airflow(/[A-Za-z0-9_-]+)*$", var.secrets_prefix))
    error_message = "secrets_prefix must be \"airflow\" or start with \"airflow/\"."
  }
}

variable "connections_prefix" {
  description = "SecretsManagerBackend connections_prefix."
  type        = string
  default     = "airflow/connections"
}

variable "variables_prefix" {
  description = "SecretsManagerBackend variables_prefix."
  type        = string
  default     = "airflow/variables"
}

variable "secrets_lookup_pattern" {
  description = "Regex of connection ids and variable keys looked up in Secrets Manager; others skip it."
  type        = string
  default     = "^covid19_"

  validation {
    condition     = can(regex(var.secrets_lookup_pattern, "covid19_warehouse"))
    error_message = "secrets_lookup_pattern must be a valid regular expression matching covid19_warehouse."
  }
}

variable "etl_start_date" {
  description = "First logical date of the DAG (ISO date), exported as COVID19_ETL_START_DATE by startup.sh."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.etl_start_date)) && can(formatdate("YYYY-MM-DD", "${var.etl_start_date}T00:00:00Z"))
    error_message = "etl_start_date must be a real calendar date in ISO format, e.g. 2020-01-22."
  }
}

variable "etl_retry_window_minutes" {
  description = "Retry window of the DAG's tasks in minutes, exported as COVID19_ETL_RETRY_WINDOW_MINUTES by startup.sh."
  type        = number
}

variable "etl_landing_deadline_minutes" {
  description = "Landing deadline of a day in minutes after its interval, exported as COVID19_ETL_LANDING_DEADLINE_MINUTES by startup.sh."
  type        = number
}

variable "warehouse_location" {
  description = "host:port/database of the warehouse, exported as COVID19_WAREHOUSE_LOCATION by startup.sh (the asset covid19.us_daily's URI)."
  type        = string
}

variable "extra_environment" {
  description = "Additional environment variables exported by startup.sh."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.extra_environment :
      can(regex("^[A-Z][A-Z0-9_]*$", k)) && !startswith(k, "AIRFLOW") && !startswith(k, "MWAA") && !strcontains(v, "\"") && !strcontains(v, "$") && !strcontains(v, "`") && !strcontains(v, "\\")
    ])
    error_message = "extra_environment keys must be upper-case shell names not starting with AIRFLOW or MWAA; values must not contain quotes, '$', '`' or backslashes."
  }
}

variable "extra_airflow_configuration_options" {
  description = "Additional Airflow configuration options (section.key = value); the secrets backend options cannot be overridden."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_airflow_configuration_options) : can(regex("^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$", k))])
    error_message = "Configuration option keys must look like section.key in lower case."
  }
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the execution role."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
