# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "identifier" {
  description = "RDS instance identifier (also the prefix of its subnet group, security group and parameter group)."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov) for managed policy ARNs."
  type        = string
  default     = "aws"

  validation {
    condition     = contains(["aws", "aws-cn", "aws-us-gov"], var.partition)
    error_message = "partition must be aws, aws-cn or aws-us-gov."
  }
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string

  validation {
    condition     = can(regex("^vpc-", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnets (two AZs) for the DB subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "A DB subnet group needs subnets in at least two Availability Zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on the database port (the MWAA environment's)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_security_group_ids) >= 1 && alltrue([for id in var.allowed_security_group_ids : can(regex("^sg-", id))])
    error_message = "allowed_security_group_ids must list at least one security group ID (sg-...)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for storage and Performance Insights encryption."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "engine_version" {
  description = "PostgreSQL version: a major version (\"17\", latest minor) or major.minor."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (must be above allocated_storage)."
  type        = number
  default     = 100
}

variable "db_name" {
  description = "Name of the database created in the instance."
  type        = string
  default     = "covid19"
}

variable "username" {
  description = "Master user name (the Airflow connection logs in with it)."
  type        = string
  default     = "covid19_etl"
}

variable "port" {
  description = "Database port."
  type        = number
  default     = 5432

  validation {
    condition     = var.port >= 1150 && var.port <= 65535
    error_message = "RDS accepts ports 1150-65535."
  }
}

variable "master_password" {
  description = "Master password, passed write-only (never stored in state)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "master_password_version" {
  description = "Increment to push a new master_password to RDS."
  type        = number
}

variable "multi_az" {
  description = "Run a synchronous standby in the second AZ."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 7
}

variable "backup_window" {
  description = "Daily UTC backup window (hh24:mi-hh24:mi), outside the DAG's run."
  type        = string
  default     = "03:00-04:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_window))
    error_message = "backup_window must look like 03:00-04:00."
  }
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:04:30-sun:05:30"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:04:30-sun:05:30."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off explicitly before a destroy)."
  type        = bool
  default     = true
}

variable "allow_major_version_upgrade" {
  description = "Allow a change of engine_version to a new major version (set for the upgrade apply only)."
  type        = bool
  default     = false
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "performance_insights_enabled" {
  description = "Enable Performance Insights (7 days retention is free)."
  type        = bool
  default     = true
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 disables it)."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
