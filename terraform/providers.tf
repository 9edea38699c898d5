provider "aws" {
  region = var.aws_region

  # Every taggable resource gets these, on top of the per-module tags.
  default_tags {
    tags = local.tags
  }
}
