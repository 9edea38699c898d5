# Operator input is validated once, in the root module (terraform/variables.tf). A validation
# here checks only a value no root variable feeds: a default, another module's output or a data
# source (tests/infra/test_terraform_validations.py fails on a rule the root already owns).

variable "name" {
  description = "Name prefix for the network resources."
  type        = string
}

variable "mode" {
  description = "\"nat\": private subnets reach the internet through NAT gateways. \"private_only\": no internet gateway; interface VPC endpoints instead."
  type        = string
  default     = "nat"
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; /16 to /22 (it is split into four /20../26 subnets)."
  type        = string
}

variable "availability_zones" {
  description = "Exactly two Availability Zones for the two private (and two public) subnets."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by both private subnets (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = true
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow-log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow-log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}
