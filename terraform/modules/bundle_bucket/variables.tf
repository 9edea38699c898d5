# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "name" {
  description = "Name prefix; the bucket is named airflow-<name>-<account>-<region>."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS default encryption of the bundle bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete the buckets with all object versions (raw archive included)."
  type        = bool
  default     = false
}

variable "raw_transition_ia_days" {
  description = "Days after which raw/ objects move to S3 Standard-IA."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_transition_ia_days >= 30
    error_message = "S3 requires at least 30 days before a transition to STANDARD_IA."
  }
}

variable "raw_transition_glacier_ir_days" {
  description = "Days after which raw/ objects move to S3 Glacier Instant Retrieval (still readable by a re-run)."
  type        = number
  default     = 120

  validation {
    condition     = var.raw_transition_glacier_ir_days >= var.raw_transition_ia_days + 30
    error_message = "raw_transition_glacier_ir_days must be at least 30 days after raw_transition_ia_days."
  }
}

variable "raw_expiration_days" {
  description = "Days after which raw/ objects are deleted; 0 keeps them forever (needed to re-run old days)."
  type        = number
  default     = 0
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "access_log_retention_days must be positive."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
