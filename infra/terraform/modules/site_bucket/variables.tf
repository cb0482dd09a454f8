variable "name" {
  description = "Bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the objects."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept."
  type        = number
}

variable "log_bucket" {
  description = "Bucket for S3 server access logs; empty = no access logging."
  type        = string
}

variable "distribution_arn" {
  description = "The CloudFront distribution allowed to read the bucket (through OAC)."
  type        = string
}
