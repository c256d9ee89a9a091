"""The API's own host name: a regional custom domain over TLS 1.2, its certificate and its DNS."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .config import DomainConfig

SECURITY_POLICY = "TLS_1_2"
VALIDATION_RECORD_TTL = 300
# Route 53 alias records for both address families; API Gateway's regional endpoints answer both.
ALIAS_RECORD_TYPES = ("A", "AAAA")


@dataclass(frozen=True)
class DomainArgs:
    """What the custom domain needs."""

    config: DomainConfig
    """The host name, its zone and certificate."""
    rest_api_id: pulumi.Input[str]
    """The REST API the domain serves."""
    stage_name: pulumi.Input[str]
    """The stage it maps, whose name is also the base path (`https://api.example.com/v1/...`)."""


class ApiDomain(pulumi.ComponentResource):
    """A regional DomainName mapped to the stage, with an ACM certificate and Route 53 records as configured."""

    domain_name: pulumi.Output[str]
    certificate_arn: pulumi.Output[str]
    target_domain_name: pulumi.Output[str]
    target_zone_id: pulumi.Output[str]

    def __init__(self, name: str, args: DomainArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("data-api:index:ApiDomain", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        domain = args.config

        if domain.certificate_arn is not None:
            certificate_arn = pulumi.Output.from_input(domain.certificate_arn)
        else:
            # Config guarantees a zone when no certificate is given.
            certificate_arn = self._validated_certificate(name, domain.name, domain.hosted_zone_id or "")

        custom_domain = aws.apigateway.DomainName(
            f"{name}-domain",
            domain_name=domain.name,
            regional_certificate_arn=certificate_arn,
            endpoint_configuration={"types": "REGIONAL"},
            security_policy=SECURITY_POLICY,
            opts=child,
        )
        aws.apigateway.BasePathMapping(
            f"{name}-mapping",
            domain_name=custom_domain.domain_name,
            rest_api=args.rest_api_id,
            stage_name=args.stage_name,
            base_path=args.stage_name,
            opts=child,
        )
        if domain.hosted_zone_id is not None:
            for record_type in ALIAS_RECORD_TYPES:
                aws.route53.Record(
                    f"{name}-{record_type.lower()}",
                    zone_id=domain.hosted_zone_id,
                    name=domain.name,
                    type=record_type,
                    aliases=[{
                        "name": custom_domain.regional_domain_name,
                        "zone_id": custom_domain.regional_zone_id,
                        "evaluate_target_health": False,
                    }],
                    opts=child,
                )

        self.domain_name = custom_domain.domain_name
        self.certificate_arn = certificate_arn
        self.target_domain_name = custom_domain.regional_domain_name
        self.target_zone_id = custom_domain.regional_zone_id
        self.register_outputs({
            "domain_name": self.domain_name,
            "certificate_arn": self.certificate_arn,
            "target_domain_name": self.target_domain_name,
            "target_zone_id": self.target_zone_id,
        })

    def _validated_certificate(self, name: str, host: str, zone_id: str) -> pulumi.Output[str]:
        """A DNS-validated ACM certificate for the host; its ARN is known once ACM has issued it."""
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=host,
            validation_method="DNS",
            opts=child,
        )
        # One name, so one validation option; ACM gives the record only once the request exists.
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{name}-validation",
            zone_id=zone_id,
            name=option.apply(lambda o: o.resource_record_name),
            type=option.apply(lambda o: o.resource_record_type),
            records=[option.apply(lambda o: o.resource_record_value)],
            ttl=VALIDATION_RECORD_TTL,
            # A replaced certificate for the same name asks for the very same record.
            allow_overwrite=True,
            opts=child,
        )
        # The domain waits for this, so it is never created with a certificate still pending.
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )
        return validation.certificate_arn
