# CloudFront in front of the buckets: HTTPS only, Origin Access Control, failover to the
# replica, caching that follows the Cache-Control sitegen sets, strict security headers.

resource "aws_cloudfront_origin_access_control" "site" {
  name                              = "${var.site_name}-oac"
  description                       = "CloudFront signs its requests to the site buckets"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# TTLs come from the objects: sitegen sends max-age=31536000, immutable for hashed assets
# and a short max-age with stale-while-revalidate / stale-if-error for pages, which
# CloudFront honours (it serves a stale copy while the origin errs).
resource "aws_cloudfront_cache_policy" "origin_headers" {
  name        = "${var.site_name}-origin-cache-control"
  comment     = "Honour the origin's Cache-Control"
  min_ttl     = 0
  default_ttl = 60
  max_ttl     = 31536000
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  name = "${var.site_name}-security-headers"
  security_headers_config {
    content_security_policy {
      content_security_policy = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
      override                = true
    }
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
  }
}

resource "aws_cloudfront_distribution" "site" {
  #checkov:skip=CKV_AWS_68:A static site of plain files has no application for a WAF to protect; CloudFront's built-in DDoS protection applies.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68); there is no Java (nor any code) behind the site.
  #checkov:skip=CKV_AWS_374:A public status site is meant to be readable from every country.
  #checkov:skip=CKV2_AWS_42:A custom certificate comes with the optional aliases (acm_certificate_arn); the default cloudfront.net name uses CloudFront's own.
  enabled             = true
  is_ipv6_enabled     = true
  comment             = "${var.site_name}: sitegen static site"
  default_root_object = "index.html"
  price_class         = var.price_class
  aliases             = var.aliases
  http_version        = "http2and3"

  origin {
    origin_id                = "primary"
    domain_name              = module.primary.regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.site.id
  }

  origin {
    origin_id                = "replica"
    domain_name              = module.replica.regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.site.id
  }

  origin_group {
    origin_id = "site"
    failover_criteria {
      status_codes = [403, 404, 500, 502, 503, 504]
    }
    member {
      origin_id = "primary"
    }
    member {
      origin_id = "replica"
    }
  }

  default_cache_behavior {
    target_origin_id           = "site"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.origin_headers.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
  }

  # With Origin Access Control S3 answers 403, not 404, for a key it does not have (the
  # distribution may not list the bucket); the lease object is refused with 403 too.
  custom_error_response {
    error_code            = 403
    response_code         = 404
    response_page_path    = "/404.html"
    error_caching_min_ttl = 60
  }

  custom_error_response {
    error_code            = 404
    response_code         = 404
    response_page_path    = "/404.html"
    error_caching_min_ttl = 60
  }

  logging_config {
    bucket          = aws_s3_bucket.logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  # TLS 1.2 or newer wherever the protocol can be chosen: with a custom domain and its
  # certificate. The cloudfront.net name always offers what CloudFront's own policy allows.
  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == ""
    acm_certificate_arn            = var.acm_certificate_arn == "" ? null : var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == "" ? null : "sni-only"
    minimum_protocol_version       = "TLSv1.2_2021"
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}
