output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "The two private subnet IDs (MWAA and RDS live here)."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnet IDs (empty in private_only mode)."
  value       = aws_subnet.public[*].id
}

output "nat_public_ips" {
  description = "Elastic IPs of the NAT gateways: the source address of the DAG's downloads."
  value       = aws_eip.nat[*].public_ip
}

output "interface_endpoint_services" {
  description = "Services reached through interface VPC endpoints (private_only mode)."
  value       = sort(keys(aws_vpc_endpoint.interface))
}
