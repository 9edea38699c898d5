# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "name" {
  description = "Name of the MWAA environment."
  type        = string
}

variable "airflow_version" {
  description = "Apache Airflow version of the environment."
  type        = string
  default     = "3.3.1"
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "min_workers" {
  description = "Minimum number of workers."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Maximum number of workers (autoscaling ceiling)."
  type        = number
  default     = 2
}

variable "webserver_access_mode" {
  description = "PRIVATE_ONLY (UI reachable only from inside the VPC) or PUBLIC_ONLY (internet, still behind IAM login)."
  type        = string
  default     = "PRIVATE_ONLY"
}

variable "webserver_ingress_cidrs" {
  description = "CIDRs (VPN, bastion, peered VPC) allowed to reach the private web server on 443."
  type        = list(string)
  default     = []
}

variable "weekly_maintenance_window_start" {
  description = "Start of the weekly maintenance window, DAY:HH:MM in UTC."
  type        = string
  default     = "SUN:03:00"
}

variable "log_level" {
  description = "CloudWatch log level for every Airflow component."
  type        = string
  default     = "INFO"
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
}

variable "etl_retry_window_minutes" {
  description = "Retry window of the DAG's tasks in minutes, exported as COVID19_ETL_RETRY_WINDOW_MINUTES by startup.sh."
  type        = number
}

variable "etl_landing_deadline_minutes" {
  description = "Landing deadline of a day in minutes after its interval, exported as COVID19_ETL_LANDING_DEADLINE_MINUTES by startup.sh."
  type        = number
}

variable "scheduler_down_alarm_minutes" {
  description = "Minutes without a scheduler heartbeat before the alarm publishes to sns_topic_arn (a multiple of 5)."
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
