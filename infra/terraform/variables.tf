variable "site_name" {
  description = "Name of the site; prefixes the buckets, the distribution and the policy."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.site_name))
    error_message = "site_name: 3-42 characters of a-z, 0-9 and -."
  }
}

variable "primary_region" {
  description = "Region of the bucket sitegen publishes to."
  type        = string
  default     = "us-east-1"
}

variable "replica_region" {
  description = "Region of the replica bucket CloudFront fails over to."
  type        = string
  default     = "us-west-2"
}

variable "aliases" {
  description = "Domain names of the site (CNAMEs); empty = the cloudfront.net name only."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in us-east-1) for the aliases; required when aliases are set."
  type        = string
  default     = ""
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days the access logs of the buckets and the distribution are kept."
  type        = number
  default     = 90
}
