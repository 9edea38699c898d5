variable "role_name" {
  description = "Name of the deploy role."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name (at most 64 characters)."
  }
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the role, as owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "subjects" {
  description = "OIDC subject patterns allowed to assume the role; default: the main branch of github_repository."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.subjects : startswith(s, "repo:") && s != "repo:*"])
    error_message = "Every subject must start with repo:<owner>/<name>."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false: use existing_oidc_provider_arn)."
  type        = bool
  default     = true
}

variable "existing_oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com OIDC provider."
  type        = string
  default     = null
}

variable "region" {
  description = "Region of the bucket (for the kms:ViaService condition)."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the bundle bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bundle bucket."
  type        = string
}

variable "environment_arn" {
  description = "ARN of the MWAA environment."
  type        = string
}

variable "execution_role_arn" {
  description = "ARN of the MWAA execution role."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the role."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
