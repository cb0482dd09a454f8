terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

provider "aws" {
  region = var.primary_region
}

# The replica bucket lives in a second region: CloudFront fails over to it when the
# primary region's S3 answers with errors (S3's SLA is 99.9%; the site aims higher).
provider "aws" {
  alias  = "replica"
  region = var.replica_region
}
