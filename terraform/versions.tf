terraform {
  # 1.11: write-only arguments (password_wo, secret_string_wo) and ephemeral resources, so the
  # database password is in neither the plan nor the state.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.62 is the provider schema the offline checks in tests/infra compare against.
      version = ">= 6.62, < 7.0"
    }
  }

  # State: local by default so that a first `terraform apply` works in an empty account. For a
  # team, move it to S3 (see README, "Remote state"): the state holds no secrets, but it is the
  # inventory of the environment.
}
