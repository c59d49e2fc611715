"""Customer.objects.visible_to(user): the one data-scope rule, per role."""

from guanxi.customers.models import Customer


def visible(user):
    return set(Customer.objects.visible_to(user).values_list("pk", flat=True))


def test_a_manager_sees_only_the_customers_assigned_to_them(bank, customers):
    assert visible(bank.alice) == {customers.alice_person.pk, customers.alice_farmer.pk}


def test_a_teller_sees_only_their_own_customers(bank, customers):
    assert visible(bank.tina) == set()


def test_a_branch_head_sees_their_units_customers_including_unassigned_ones(bank, customers):
    assert visible(bank.hank) == {
        customers.alice_person.pk, customers.alice_farmer.pk, customers.bob_person.pk, customers.unassigned.pk,
    }


def test_a_branch_head_of_a_union_sees_the_whole_subtree(bank, customers):
    bank.hank.org_unit = bank.union
    bank.hank.save()
    assert len(visible(bank.hank)) == 5


def test_a_line_department_sees_its_market_line_bank_wide(bank, customers):
    assert visible(bank.lena) == {customers.alice_farmer.pk}


def test_the_auditor_sees_everything(bank, customers):
    assert len(visible(bank.audrey)) == 5


def test_the_three_administrators_see_no_customer_data(bank, customers):
    for admin in (bank.sam, bank.sec, bank.ada):
        assert visible(admin) == set()


def test_an_inactive_user_sees_nothing(bank, customers):
    bank.alice.is_active = False
    bank.alice.save()
    assert visible(bank.alice) == set()


def test_a_reassigned_customer_leaves_the_previous_owners_scope(bank, customers):
    from guanxi.relationships.services import assignment_set

    assignment_set(acting_user=bank.hank, customer=customers.alice_person, owner=bank.bob, reason="rebalance")
    assert customers.alice_person.pk not in visible(bank.alice)
    assert customers.alice_person.pk in visible(bank.bob)


def test_the_database_refuses_a_second_active_owner(bank, customers):
    import pytest
    from django.db import IntegrityError, transaction

    from guanxi.relationships.models import Assignment

    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(customer=customers.alice_person, owner=bank.bob)
