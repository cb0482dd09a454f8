# The generator's policy: exactly the calls sitegen makes, on this bucket and distribution.
# tests/test_infra.py checks that every AWS call the publisher makes is allowed here and
# that nothing else is.

data "aws_iam_policy_document" "publisher" {
  statement {
    sid       = "ListSite"
    actions   = ["s3:ListBucket"]
    resources = [module.primary.arn]
  }
  statement {
    sid       = "ReadWriteSite"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.primary.arn}/*"]
  }
  statement {
    sid       = "UseSiteKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.site.arn]
  }
  statement {
    sid       = "InvalidatePages"
    actions   = ["cloudfront:CreateInvalidation"]
    resources = [aws_cloudfront_distribution.site.arn]
  }
  # For [publish] cloudwatch = true. CloudWatch has no resource-level permissions for reads.
  statement {
    sid       = "ReadCdnMetrics"
    actions   = ["cloudwatch:GetMetricStatistics"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "publisher" {
  name        = "${var.site_name}-sitegen-publisher"
  description = "What sitegen needs to publish ${var.site_name}: attach it to the generator's role"
  policy      = data.aws_iam_policy_document.publisher.json
}

# Replication of the primary bucket into the replica, which CloudFront fails over to.

data "aws_iam_policy_document" "replication_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  name               = "${var.site_name}-site-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_trust.json
}

data "aws_iam_policy_document" "replication" {
  statement {
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [module.primary.arn]
  }
  statement {
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${module.primary.arn}/*"]
  }
  statement {
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${module.replica.arn}/*"]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.site.arn]
  }
  statement {
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.replica.arn]
  }
}

resource "aws_iam_role_policy" "replication" {
  name   = "replicate-site"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

resource "aws_s3_bucket_replication_configuration" "site" {
  bucket = module.primary.id
  role   = aws_iam_role.replication.arn
  rule {
    id     = "site-to-replica"
    status = "Enabled"
    filter {}
    delete_marker_replication {
      status = "Enabled"
    }
    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }
    destination {
      bucket        = module.replica.arn
      storage_class = "STANDARD"
      encryption_configuration {
        replica_kms_key_id = aws_kms_key.replica.arn
      }
    }
  }
  depends_on = [module.primary, module.replica]
}
