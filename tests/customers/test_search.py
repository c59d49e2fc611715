"""Search: name substrings (also 1–2 characters), pinyin, customer number, ID number, phone and its last four."""

import pytest

from guanxi.customers import search, services
from guanxi.customers.models import Customer
from guanxi.customers.synthetic import Synth
from tests.factories import CustomerFactory


@pytest.fixture
def people(bank):
    names = ["张三", "张三丰", "李张", "王小明", "单雄信", "曾国藩", "吕布"]
    return {name: CustomerFactory(name=name, org_unit=bank.b1) for name in names}


def found(text):
    return set(Customer.objects.search(text).values_list("name", flat=True))


def test_pinyin_of_names():
    assert search.name_pinyin("张三") == ("zhangsan", "zs")
    assert search.name_pinyin("单雄信") == ("shanxiongxin", "sxx")  # 单 is Shàn as a surname
    assert search.name_pinyin("吕布") == ("lvbu", "lb")


@pytest.mark.parametrize(("text", "names"), [
    ("张", {"张三", "张三丰", "李张"}),
    ("张三", {"张三", "张三丰"}),
    ("三丰", {"张三丰"}),
    ("张三丰", {"张三丰"}),
    ("小明", {"王小明"}),
    ("zs", {"张三", "张三丰"}),
    ("zhangsan", {"张三", "张三丰"}),
    ("ZhangSan", {"张三", "张三丰"}),
    ("sxx", {"单雄信"}),
    ("zengguofan", {"曾国藩"}),
    ("lvbu", {"吕布"}),
])
def test_names_are_found_by_substring_and_pinyin(people, text, names):
    assert found(text) == names


def test_numbers_find_the_customer(people):
    target = people["王小明"]
    for text in (target.customer_no, target.id_number, target.phone, target.phone[-4:],
                 f"{target.phone[:3]} {target.phone[3:7]} {target.phone[7:]}"):
        assert target.name in found(text), text


def test_an_old_15_digit_number_finds_the_18_digit_record(bank):
    first15 = "230103" + "650101" + "123"
    from guanxi.core.validators import convert_15_to_18

    customer = CustomerFactory(name="老号码", id_number=convert_15_to_18(first15), org_unit=bank.b1)
    assert customer.name in found(first15)


def test_renaming_a_customer_updates_the_search(bank, customers):
    services.customer_update(acting_user=bank.alice, customer=customers.alice_person, data={"name": "欧阳锋"})
    renamed = customers.alice_person
    assert Customer.objects.search("欧阳").filter(pk=renamed.pk).exists()
    assert Customer.objects.search("oyf").filter(pk=renamed.pk).exists()
    assert not Customer.objects.search(renamed.name[:1] + "某").filter(pk=renamed.pk).exists()
    tokens = search.tokens_of(customers.alice_person.pk)
    assert tokens == {"欧", "阳", "锋", "欧阳", "阳锋"}


def test_search_stays_inside_the_data_scope(bank, customers):
    other = customers.bob_person
    assert not Customer.objects.visible_to(bank.alice).search(other.name).filter(pk=other.pk).exists()


def test_registered_customers_are_searchable(bank):
    customer = services.customer_create(acting_user=bank.alice, data={
        "customer_type": "person", "name": "司马懿", "id_number": Synth(41).resident_id(), "org_code": "B1",
        "phone": "13912340000"})
    assert Customer.objects.search("马懿").get() == customer
    assert Customer.objects.search("smy").get() == customer
    assert Customer.objects.search("0000").get() == customer


def test_a_company_is_found_by_its_credit_code(bank):
    company = CustomerFactory(customer_type="company", name="兴农合作社", org_unit=bank.b1)
    assert list(Customer.objects.search(company.id_number)) == [company]
    assert list(Customer.objects.search(company.id_number.lower())) == [company]


def test_names_with_any_characters_are_found(bank):
    """Middle dots, Latin letters, digits and brackets stay inside the search tokens."""
    customers = [CustomerFactory(name=name, org_unit=bank.b1)
                 for name in ("阿依古丽·买买提", "ABC农机(合作社)", "张3丰", "李-明")]
    for customer, text in zip(customers, ("丽·买", "(合作", "3丰", "-明"), strict=True):
        assert Customer.objects.search(text).filter(pk=customer.pk).exists(), text
    assert not Customer.objects.search("丽买").filter(pk=customers[0].pk).exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_customer_removes_it_from_the_name_search(bank):
    customer = CustomerFactory(name="独孤求败", org_unit=bank.b1)
    assert search.tokens_of(customer.pk) == {"独", "孤", "求", "败", "独孤", "孤求", "求败"}
    pk = customer.pk
    Customer.objects.filter(pk=pk).delete()
    assert search.tokens_of(pk) == set()


def test_prefixes_are_found_under_a_chinese_collation_too(people):
    """A bank's PostgreSQL is often created with a zh_CN (or en_US) collation, not C: prefix searches must hold."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite compares text byte by byte whatever the database")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_collation WHERE collname = 'zh-Hans-CN-x-icu'")
        if cursor.fetchone() is None:
            pytest.skip("this PostgreSQL has no ICU collations")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the fixtures' deferred foreign-key checks first
        for column, size in (("customer_no", 20), ("phone", 11), ("name_pinyin", 100), ("name_initials", 30)):
            cursor.execute(f'ALTER TABLE customers_customer ALTER COLUMN {column} TYPE varchar({size}) '
                           'COLLATE "zh-Hans-CN-x-icu"')  # undone with the test's transaction
    assert found("zhang") == {"张三", "张三丰"}  # 'zhangsan' sorts after 'zhang' + \x7f under this collation
    assert found("zsf") == {"张三丰"}
    target = people["王小明"]
    assert target.name in found(target.customer_no[:-1])
    assert target.name in found(target.phone[:7])


@pytest.mark.django_db(transaction=True)
def test_the_name_search_keeps_its_rows_through_its_rebuild_without_sizes(bank):
    """Migration 0012 rebuilds SQLite's FTS5 table without per-row sizes: the names already registered
    are still found, and deleting a customer still removes its search row."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the name tokens live in an FTS5 table on SQLite only")
    kept = CustomerFactory(name="欧阳锋", org_unit=bank.b1)
    gone = CustomerFactory(name="欧阳克", org_unit=bank.b1)

    def table_sql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [search.FTS_TABLE])
            return cursor.fetchone()[0]

    assert "columnsize=0" in table_sql()
    call_command("migrate", "customers", "0011", verbosity=0)
    assert "columnsize=0" not in table_sql() and found("欧阳") == {"欧阳锋", "欧阳克"}
    call_command("migrate", "customers", verbosity=0)
    assert "columnsize=0" in table_sql()
    assert found("欧阳") == {"欧阳锋", "欧阳克"} and found("阳锋") == {"欧阳锋"}
    Customer.objects.filter(pk=gone.pk).delete()  # the trigger follows the rebuilt table
    assert search.tokens_of(gone.pk) == set() and search.tokens_of(kept.pk) == {"欧", "阳", "锋", "欧阳", "阳锋"}


@pytest.mark.parametrize("name", ["王小明", 'O"Brien 李', "A\\B,{c} d", "tab\there", "", "张"])
def test_the_name_tokens_reach_postgresql_as_they_are_whatever_the_name_holds(db, name):
    """A bulk import COPYs each customer's tokens, one row each: quotes, backslashes, tabs, commas and braces
    survive."""
    from django.db import connection

    from guanxi.customers.importing.customers import _token_rows, _tokens_copy_text
    from guanxi.customers.search import name_tokens

    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps the tokens in FTS5")
    tokens = name_tokens(name)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copied (token text, customer_id bigint)")
        with cursor.copy("COPY copied (token, customer_id) FROM STDIN") as copy:
            copy.write(_token_rows(_tokens_copy_text(tokens), 7) + _token_rows(_tokens_copy_text({"x"}), 8))
        cursor.execute("SELECT token, customer_id FROM copied")
        assert sorted(cursor.fetchall()) == sorted([(token, 7) for token in tokens] + [("x", 8)])


@pytest.mark.parametrize(("text", "indexes"), [
    ("13812345678", {"customer_phone"}),  # a whole phone number
    ("1381234", {"customer_phone"}),  # its first digits (with the customer number)
    ("zs", {"customer_name_initials", "customer_name_pinyin"}),  # pinyin, initials or full
])
def test_phone_and_pinyin_are_looked_up_through_one_index_each(people, text, indexes):
    """One index per column serves both equality and prefix (on PostgreSQL the pattern index, whatever the
    collation), so no second index costs every customer written."""
    from django.db import connection

    query = Customer.objects.search(text)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")  # a few test rows: the planner would read them all
            try:
                plan = query.explain()
            finally:
                cursor.execute("RESET enable_seqscan")
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'customers_customer'")
            definitions = [row[0] for row in cursor.fetchall()]
        for column in ("phone", "name_pinyin", "name_initials"):
            assert sum(f"({column} " in d or f"({column})" in d for d in definitions) == 1, column
    else:
        plan = query.explain()
    assert all(index in plan for index in indexes), plan


def test_a_name_search_on_postgresql_walks_the_byte_ordered_token_index(people):
    """PostgreSQL keeps the tokens in collation "C" (bytes, not the locale: cheaper to build and to
    maintain) and a name search still walks their index, every name found as before."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps the tokens in FTS5")
    with connection.cursor() as cursor:
        cursor.execute("SELECT collation_name FROM information_schema.columns "
                       "WHERE table_name = 'customers_nametoken' AND column_name = 'token'")
        assert cursor.fetchone()[0] == "C"
        cursor.execute("SET enable_seqscan = off")
        try:
            plan = Customer.objects.search("张三").explain()
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "customers_nametoken_pkey" in plan, plan
    assert found("张") == {"张三", "张三丰", "李张"} and found("张三") == {"张三", "张三丰"}


def test_customer_and_id_numbers_are_found_by_their_start_through_their_unique_index_alone(people):
    """PostgreSQL keeps customer and ID numbers in collation "C": their unique indexes serve a prefix search
    (the search box's customer number, the duplicates page's ID bodies) and no second index costs every write."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite compares bytes already")
    someone = people["张三"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name, collation_name FROM information_schema.columns "
                       "WHERE table_name = 'customers_customer' AND column_name IN ('id_number', 'customer_no')")
        assert dict(cursor.fetchall()) == {"id_number": "C", "customer_no": "C"}
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'customers_customer' "
                       "AND (indexdef LIKE '%(id_number%' OR indexdef LIKE '%(customer_no%')")
        assert sorted(row[0] for row in cursor.fetchall()) == ["customers_customer_customer_no_key",
                                                               "customers_customer_id_number_key"]
        cursor.execute("SET enable_seqscan = off")
        try:
            by_number = Customer.objects.search(someone.customer_no[:-1])
            by_id = Customer.objects.filter(id_number__startswith=someone.id_number[:14])
            plans = by_number.explain(), by_id.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "customers_customer_customer_no_key" in plans[0], plans[0]
    assert "customers_customer_id_number_key" in plans[1], plans[1]
    assert someone in by_number and list(by_id) == [someone]
