# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "role_name" {
  description = "Name of the deploy role."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository allowed to assume the role, as owner/name."
  type        = string
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
