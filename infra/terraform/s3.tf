# The site buckets: private, owner-enforced, encrypted, versioned, replicated.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "site" {
  description             = "${var.site_name}: encrypts the site buckets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_key" "replica" {
  provider                = aws.replica
  description             = "${var.site_name}: encrypts the replica bucket"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

# The account administers the keys; CloudFront (through OAC) may decrypt what it serves.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; the account root is the key's administrator by AWS's own default policy.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only.
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource means this key only; without the account statement the key could become unmanageable.
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudFrontDecrypt"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    # StringLike: a "*" is a wildcard only there (StringEquals compared it literally, so
    # CloudFront could decrypt nothing). Any distribution of this account, since naming
    # ours would make a cycle: key -> bucket -> distribution -> key.
    condition {
      test     = "StringLike"
      variable = "AWS:SourceArn"
      values   = ["arn:aws:cloudfront::${data.aws_caller_identity.current.account_id}:distribution/*"]
    }
  }
}

module "primary" {
  source                  = "./modules/site_bucket"
  name                    = "${var.site_name}-site-${data.aws_caller_identity.current.account_id}"
  kms_key_arn             = aws_kms_key.site.arn
  noncurrent_version_days = var.noncurrent_version_days
  log_bucket              = aws_s3_bucket.logs.id
  distribution_arn        = aws_cloudfront_distribution.site.arn
}

module "replica" {
  source                  = "./modules/site_bucket"
  providers               = { aws = aws.replica }
  name                    = "${var.site_name}-replica-${data.aws_caller_identity.current.account_id}"
  kms_key_arn             = aws_kms_key.replica.arn
  noncurrent_version_days = var.noncurrent_version_days
  log_bucket              = ""
  distribution_arn        = aws_cloudfront_distribution.site.arn
}
