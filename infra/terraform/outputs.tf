output "bucket" {
  description = "The bucket sitegen publishes to: [publish] bucket."
  value       = module.primary.id
}

output "region" {
  description = "Its region: [publish] region."
  value       = var.primary_region
}

output "replica_bucket" {
  description = "The replica bucket in replica_region, kept in sync by S3 replication."
  value       = module.replica.id
}

output "distribution_id" {
  description = "The CloudFront distribution: [publish] distribution_id."
  value       = aws_cloudfront_distribution.site.id
}

output "site_url" {
  description = "Where the site is served: [site] base_url."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.site.domain_name}"
}

output "publisher_policy_arn" {
  description = "The least-privilege policy to attach to the role or user that runs sitegen."
  value       = aws_iam_policy.publisher.arn
}

output "sitegen_config" {
  description = "The [publish] section of sitegen.toml for this infrastructure."
  value       = <<-TOML
    [publish]
    bucket = "${module.primary.id}"
    region = "${var.primary_region}"
    distribution_id = "${aws_cloudfront_distribution.site.id}"
  TOML
}
