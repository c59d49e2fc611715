"""The demo bank: an org tree, staff of every role and a few thousand synthetic customers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from guanxi.core import audit
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine, Role
from guanxi.core.services import orgunit_save, sequence_take, staff_save
from guanxi.core.validators import validate_resident_id
from guanxi.credit.demo import load_demo_credit
from guanxi.customers.models import (
    MARKET_BY_TYPE,
    BalanceSnapshot,
    Customer,
    CustomerStatus,
    CustomerType,
    GuaranteeType,
    HouseholdMember,
    HouseholdRelation,
)
from guanxi.customers.search import derived_fields, write_tokens
from guanxi.customers.services import customer_number
from guanxi.customers.synthetic import Synth
from guanxi.engagement.models import Channel, Direction, Interaction
from guanxi.relationships.models import Assignment
from guanxi.segmentation.demo import load_demo_segments
from guanxi.segmentation.services import segments_recompute

DEMO_PASSWORD = "guanxi-demo-2026"

ORG_TREE = [
    ("HQ", "龙江农村商业银行总行", "head_office", None),
    ("U01", "北城联社", "union", "HQ"),
    ("U02", "南城联社", "union", "HQ"),
    ("B0101", "城关支行", "branch", "U01"),
    ("C0102", "兴隆信用社", "coop", "U01"),
    ("C0103", "拉林信用社", "coop", "U01"),
    ("B0201", "五常支行", "branch", "U02"),
    ("C0202", "山河信用社", "coop", "U02"),
    ("C0203", "杜家信用社", "coop", "U02"),
]

# The logins printed by `guanxi demo` (username, name, role, org, market line).
NAMED_STAFF = [
    ("manager1", "王建国", Role.MANAGER, "B0101", ""),
    ("manager2", "李秀英", Role.MANAGER, "B0101", ""),
    ("teller1", "张丽", Role.TELLER, "B0101", ""),
    ("head1", "刘志强", Role.BRANCH_HEAD, "B0101", ""),
    ("union_head1", "陈国庆", Role.BRANCH_HEAD, "U01", ""),
    ("agri_dept", "杨春梅", Role.LINE_DEPT, "HQ", MarketLine.AGRI),
    ("company_dept", "黄海燕", Role.LINE_DEPT, "HQ", MarketLine.COMPANY),
    ("personal_dept", "赵德福", Role.LINE_DEPT, "HQ", MarketLine.PERSONAL),
    ("approver", "吴永福", Role.CREDIT_APPROVER, "HQ", ""),
    ("auditor", "周淑珍", Role.AUDITOR, "HQ", ""),
    ("sysadmin", "徐宝山", Role.SYSADMIN, "HQ", ""),
    ("secadmin", "孙玉兰", Role.SECADMIN, "HQ", ""),
    ("auditadmin", "马凤兰", Role.AUDITADMIN, "HQ", ""),
]


def demo_loaded() -> bool:
    return OrgUnit.objects.filter(code="HQ").exists()


@transaction.atomic
def load_demo(*, customers: int = 3000, seed: int = 20261130) -> dict[str, int]:
    """Create the demo bank in one transaction. Customers are bulk-inserted (one audit entry)."""
    synth = Synth(seed=seed)
    units: dict[str, OrgUnit] = {}
    for code, name, kind, parent in ORG_TREE:
        units[code], _changed = orgunit_save(acting_user=None, code=code, name=name, kind=kind,
                                             parent=units.get(parent) if parent else None)
    staff: dict[str, User] = {}
    for username, name, role, org, line in NAMED_STAFF:
        staff[username], _changed = staff_save(acting_user=None, username=username, name=name, role=role,
                                               org_unit=units[org], market_line=line)
    # Every other outlet gets two managers, a teller and a head of its own.
    for code, _name, kind, _parent in ORG_TREE:
        if kind in ("branch", "coop") and code != "B0101":
            for username, role in ((f"m_{code.lower()}_1", Role.MANAGER), (f"m_{code.lower()}_2", Role.MANAGER),
                                   (f"t_{code.lower()}", Role.TELLER), (f"h_{code.lower()}", Role.BRANCH_HEAD)):
                staff[username], _changed = staff_save(acting_user=None, username=username, name=synth.person_name(),
                                                       role=role, org_unit=units[code])
        if kind == "union" and code != "U01":
            staff[f"h_{code.lower()}"], _changed = staff_save(
                acting_user=None, username=f"h_{code.lower()}", name=synth.person_name(), role=Role.BRANCH_HEAD,
                org_unit=units[code])
    for user in staff.values():
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])

    outlets = [units[code] for code, _n, kind, _p in ORG_TREE if kind in ("branch", "coop")]
    owners_by_unit: dict[int, list[User]] = {}
    for user in staff.values():
        if user.role in (Role.MANAGER, Role.TELLER) and user.org_unit_id:
            owners_by_unit.setdefault(user.org_unit_id, []).append(user)

    numbers = iter(sequence_take(name="customer_no", count=customers))
    today = timezone.localdate()
    rows: list[Customer] = []
    for index in range(customers):
        unit = outlets[index % len(outlets)]
        draw = synth.random.random()
        ctype = CustomerType.FARMER if draw < 0.5 else CustomerType.PERSON if draw < 0.85 else CustomerType.COMPANY
        customer = Customer(customer_no=customer_number(next(numbers)), customer_type=ctype, org_unit=unit,
                            market=MARKET_BY_TYPE[ctype])
        if ctype == CustomerType.COMPANY:
            customer.name, customer.industry = synth.company_name()
            customer.id_number = synth.uscc("93" if "合作社" in customer.name else "91")
            customer.annual_income = Decimal(synth.amount(500_000, 50_000_000))
            customer.address = f"{synth.random.choice(['城关镇', '兴隆镇', '五常镇'])}工业园区{synth.random.randrange(1, 99)}号"
        else:
            customer.id_number = synth.resident_id()
            customer.name = synth.person_name()
            customer.annual_income = Decimal(synth.amount(20_000, 400_000))
            customer.address = synth.village_address()
            customer.industry = "A" if ctype == CustomerType.FARMER else synth.random.choice(["F", "H", "P", "S", "O"])
        if ctype != CustomerType.COMPANY:
            resident = validate_resident_id(customer.id_number)
            customer.birth_date, customer.gender = resident.birth_date, resident.gender
        customer.phone = synth.mobile()
        customer.status = CustomerStatus.EXISTING if synth.random.random() < 0.75 else CustomerStatus.PROSPECT
        if customer.status == CustomerStatus.EXISTING:
            customer.deposit_balance = Decimal(synth.amount(1_000, 3_000_000))
            customer.loan_balance = Decimal(synth.amount(10_000, 3_000_000)) if synth.random.random() < 0.35 else Decimal(0)
            held = ["DEP"] + (["LOAN"] if customer.loan_balance else [])
            held += [code for code in ("CARD", "EBANK", "WM", "INS") if synth.random.random() < 0.3]
            customer.products, customer.balance_as_of = ";".join(held), today
        assets = synth.amount(50_000, 5_000_000)
        customer.total_assets = Decimal(assets)
        customer.total_liabilities = Decimal(int(assets * synth.random.uniform(0, 0.7)))
        customer.household_size = synth.random.randint(1, 6) if ctype == CustomerType.FARMER else None
        customer.guarantee_type = synth.random.choice(GuaranteeType.values)
        for name, value in derived_fields(name=customer.name, phone=customer.phone, customer_type=ctype).items():
            setattr(customer, name, value)
        rows.append(customer)
    Customer.objects.bulk_create(rows, batch_size=1000)
    created = {c.customer_no: c for c in Customer.objects.filter(customer_no__in=[r.customer_no for r in rows])}

    write_tokens([(c.pk, c.name) for c in created.values()], replace=False)
    assignments, members = [], []
    for index, row in enumerate(rows):
        customer = created[row.customer_no]
        owners = owners_by_unit.get(customer.org_unit_id, [])
        # A few customers stay unassigned, so the branch head's "unassigned" list has work.
        if owners and index % 50 != 7:
            assignments.append(Assignment(customer=customer, owner=owners[index % len(owners)],
                                          reason="demo data"))
        if customer.customer_type == CustomerType.FARMER:
            members.append(HouseholdMember(customer=customer, name=customer.name, relation=HouseholdRelation.HEAD,
                                           id_number=customer.id_number, phone=customer.phone))
            for _ in range((customer.household_size or 1) - 1):
                relation = synth.random.choice([HouseholdRelation.SPOUSE, HouseholdRelation.CHILD,
                                                HouseholdRelation.PARENT])
                members.append(HouseholdMember(customer=customer, name=synth.person_name(), relation=relation,
                                               id_number=synth.resident_id(born_from=1945, born_to=2010),
                                               is_labourer=relation != HouseholdRelation.PARENT))
    Assignment.objects.bulk_create(assignments, batch_size=1000)
    HouseholdMember.objects.bulk_create(members, batch_size=1000)
    _load_interactions(synth, assignments)
    _load_balance_history(synth, list(created.values()), today)
    # Every customer gets its market, sub-market, tier and product classes, as after a nightly run.
    segments_recompute(acting_user=None)
    load_demo_segments()  # territories (划片包干) and target lists (名单制管理) being worked
    load_demo_credit()  # a batch rating of the bank, lines in every approval state, rating campaigns
    _load_care(staff)
    audit.record(actor=None, action="demo.load", object_type="site", object_repr="demo bank",
                 changes={"customers": customers, "staff": len(staff)})
    return {"org_units": len(units), "staff": len(staff), "customers": customers, "members": len(members)}


# Contacts of the last six months: (channel, summary, outcome, next step); most by phone or on a visit.
DEMO_CONTACTS = [
    (Channel.PHONE, "电话回访，了解近期资金需求", "暂无新需求", ""),
    (Channel.PHONE, "提醒定期存款到期，介绍续存利率", "同意到期续存", "到期日前再次确认"),
    (Channel.VISIT, "上门走访，了解春耕备耕用款计划", "有贷款意向", "准备授信调查材料"),
    (Channel.VISIT, "走访经营场所，核实经营情况", "经营正常", ""),
    (Channel.COUNTER, "柜面办理业务时介绍手机银行", "已开通手机银行", ""),
    (Channel.WECHAT, "微信发送惠农贷款产品介绍", "客户表示考虑", "一周后电话跟进"),
    (Channel.SMS, "短信节日问候", "", ""),
    (Channel.PHONE, "贷款到期前提醒还款", "承诺按期还款", "到期日核实还款"),
    (Channel.VISIT, "入户采集家庭信息，更新登记表", "信息已更新", ""),
    (Channel.OTHER, "村委会宣讲活动中交流", "留下联系方式", "上门拜访"),
]


def _load_interactions(synth: Synth, assignments: list[Assignment]) -> int:
    """About two contacts per owned customer over the last 180 days (a quarter never contacted), one bulk insert."""
    now = timezone.now()
    rows = []
    for assignment in assignments:
        draw = synth.random.random()
        if draw < 0.25:
            continue
        for _ in range(1 + int(draw * 4)):
            channel, summary, outcome, next_step = synth.random.choice(DEMO_CONTACTS)
            occurred_at = now - timedelta(days=synth.random.randint(0, 180), hours=synth.random.randint(1, 9),
                                          minutes=synth.random.randint(0, 59))
            next_on = (timezone.localtime(occurred_at) + timedelta(days=synth.random.randint(3, 30))).date()
            rows.append(Interaction(
                customer=assignment.customer, staff=assignment.owner, org_unit_id=assignment.owner.org_unit_id,
                channel=channel, direction=Direction.INBOUND if channel == Channel.COUNTER else Direction.OUTBOUND,
                occurred_at=occurred_at, summary=summary, outcome=outcome, next_step=next_step,
                next_step_on=next_on if next_step else None, created_at=occurred_at))
    Interaction.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _load_balance_history(synth: Synth, customers: list[Customer], today) -> int:
    """Month-end balances of the last six months drifting towards today's, as the core-banking feed leaves them."""
    month_ends, day = [], today.replace(day=1)
    for _ in range(6):
        day -= timedelta(days=1)
        month_ends.append(day)
        day = day.replace(day=1)
    rows = []
    for customer in customers:
        if not customer.balance_as_of:
            continue
        deposit, loan = customer.deposit_balance, customer.loan_balance
        rows.append(BalanceSnapshot(customer=customer, as_of=today, deposit_balance=deposit, loan_balance=loan,
                                    products=customer.products))
        for as_of in month_ends:
            deposit = (deposit * Decimal(synth.random.uniform(0.85, 1.1))).quantize(Decimal("0.01"))
            loan = (loan * Decimal(synth.random.uniform(0.95, 1.05))).quantize(Decimal("0.01"))
            rows.append(BalanceSnapshot(customer=customer, as_of=as_of, deposit_balance=deposit, loan_balance=loan,
                                        products=customer.products))
    BalanceSnapshot.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _load_care(staff: dict[str, User]) -> None:
    """The line departments' care plans (关怀) and the visit tasks (回访) the nightly job would have made."""
    from guanxi.engagement.services.care import care_plan_save
    from guanxi.engagement.services.followups import followups_generate

    for username, market in (("agri_dept", MarketLine.AGRI), ("personal_dept", MarketLine.PERSONAL)):
        care_plan_save(acting_user=staff[username], name="春节问候", occasion="holiday", holiday="spring_festival",
                       channel="sms", markets=[market], days_before=1,
                       template="{surname}{honorific}您好！{branch}{owner}给您拜年，祝您新春快乐、万事如意！")
        care_plan_save(acting_user=staff[username], name="生日祝福（高端客户）", occasion="birthday", channel="sms",
                       markets=[market], tiers=["high"],
                       template="{surname}{honorific}，今天是您的生日，{branch}祝您生日快乐、身体健康！")
    care_plan_save(acting_user=staff["company_dept"], name="中秋问候", occasion="holiday", holiday="mid_autumn",
                   channel="email", markets=[MarketLine.COMPANY], subject="中秋佳节问候",
                   template="{name}：值此中秋佳节，{branch}感谢贵单位一直以来的支持，祝阖家团圆、事业兴旺！")
    followups_generate()
