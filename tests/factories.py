"""factory_boy factories for test state. Identifiers come from the synthetic generator."""

from __future__ import annotations

import itertools

import factory

from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import Role
from guanxi.customers.models import MARKET_BY_TYPE, Customer, CustomerStatus, CustomerType
from guanxi.customers.synthetic import Synth
from guanxi.relationships.models import Assignment

synth = Synth(seed=7)
_numbers = itertools.count(1)


class OrgUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrgUnit

    code = factory.Sequence(lambda n: f"T{n:04d}")
    name = factory.Sequence(lambda n: f"测试网点{n}")
    kind = "branch"
    parent = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from guanxi.core.services import orgunit_save

        unit, _changed = orgunit_save(acting_user=None, **kwargs)
        return unit


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    name = factory.LazyFunction(synth.person_name)
    role = Role.MANAGER

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or "correct-horse-battery")
        if create:
            self.save(update_fields=["password"])


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    customer_no = factory.LazyFunction(lambda: f"KT{next(_numbers):010d}")
    customer_type = CustomerType.PERSON
    name = factory.LazyFunction(synth.person_name)
    id_number = factory.LazyAttribute(
        lambda o: synth.uscc() if o.customer_type == CustomerType.COMPANY else synth.resident_id()
    )
    phone = factory.LazyFunction(synth.mobile)
    status = CustomerStatus.EXISTING
    market = factory.LazyAttribute(lambda o: MARKET_BY_TYPE[o.customer_type])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from guanxi.customers.search import derived_fields, write_tokens

        kwargs.update(derived_fields(name=kwargs["name"], phone=kwargs.get("phone", ""),
                                     customer_type=kwargs.get("customer_type")))
        customer = super()._create(model_class, *args, **kwargs)
        write_tokens([(customer.pk, customer.name)], replace=False)
        return customer

    @factory.post_generation
    def owner(self, create, extracted, **kwargs):
        if create and extracted is not None:
            Assignment.objects.create(customer=self, owner=extracted, reason="test")
