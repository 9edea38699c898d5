# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "secrets_prefix" {
  description = "Prefix of every secret; connections live under <prefix>/connections, variables under <prefix>/variables."
  type        = string
  default     = "airflow"
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secrets."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 7

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "warehouse_conn_id" {
  description = "Airflow conn_id of the warehouse connection."
  type        = string
  default     = "covid19_warehouse"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.warehouse_conn_id))
    error_message = "warehouse_conn_id must contain only letters, digits and '_'."
  }
}

variable "warehouse" {
  description = "Non-secret parts of the warehouse connection, from the database module."
  type = object({
    host                 = string
    port                 = number
    username             = string
    db_name              = string
    instance_resource_id = string
  })
}

variable "warehouse_password" {
  description = "Warehouse password, written write-only into the connection secret."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "warehouse_password_version" {
  description = "Increment together with the database's password version to rewrite the secret."
  type        = number
}

variable "variables" {
  description = "Airflow Variables to create as <prefix>/variables/<key> secrets."
  type        = map(string)
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
