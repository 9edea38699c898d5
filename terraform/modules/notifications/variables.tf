variable "name" {
  description = "Name of the SNS topic."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.name))
    error_message = "An SNS topic name has 1-256 letters, digits, '_' or '-'."
  }
}

variable "display_name" {
  description = "Display name shown as the sender of e-mail notifications."
  type        = string
  default     = "COVID-19 ETL"

  validation {
    condition     = length(var.display_name) <= 100
    error_message = "display_name must be at most 100 characters."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts messages at rest."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "email_addresses" {
  description = "E-mail addresses subscribed to the topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "Every entry of email_addresses must be an e-mail address."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
