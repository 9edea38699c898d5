variable "name" {
  description = "Name prefix for the network resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}$", var.name))
    error_message = "name must be 2-39 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "mode" {
  description = "\"nat\": private subnets reach the internet through NAT gateways. \"private_only\": no internet gateway; interface VPC endpoints instead."
  type        = string
  default     = "nat"

  validation {
    condition     = contains(["nat", "private_only"], var.mode)
    error_message = "mode must be \"nat\" or \"private_only\"."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; /16 to /22 (it is split into four /20../26 subnets)."
  type        = string

  validation {
    condition     = can(regex("^[0-9.]+/(1[6-9]|2[0-2])$", var.vpc_cidr)) && can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /22."
  }
}

variable "availability_zones" {
  description = "Exactly two Availability Zones for the two private (and two public) subnets."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
    error_message = "MWAA needs exactly two subnets in two different Availability Zones."
  }
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

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be a value CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
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
