# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "name" {
  description = "Name prefix of the key alias (alias/<name>)."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
