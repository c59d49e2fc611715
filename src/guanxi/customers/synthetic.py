"""Synthetic but valid customer data: names, resident IDs over real county codes, USCCs, phones.

Used by the demo bank, the test factories and `guanxi generate`. Never real people.

Two layers:

* :class:`Synth` draws single values (a name, an ID number, a phone) for the demo and the tests.
* :class:`CustomerFile` produces whole registration-file rows, fast enough for millions of rows,
  in fixed-size chunks that depend only on the seed and the chunk number (so the output is
  byte-identical for a seed whether it is produced by one process or several, and a
  file of N rows is a prefix of a file of N + k rows). Identifiers are unique by
  construction: row *i* gets slot *P(i)* of a seeded permutation *P*, and the slot decides
  the birth date and sequence number of the resident ID (or the organisation code of a
  USCC), so no set of issued numbers has to be kept in memory.
"""

from __future__ import annotations

import bisect
import functools
import importlib.resources
import math
import random
import re
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from statistics import NormalDist

from guanxi.core.validators import (
    USCC_ALPHABET,
    county_codes,
    county_name,
    resident_id_check_digit,
    uscc_check_char,
    validate_mobile,
)

# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

# Surname frequencies (per ten thousand, roughly the 2020 census, a little skewed to the
# north-east: more 于, 孙, 赵, 姜, 关, 佟 than the national average).
_SURNAME_WEIGHTS = (
    "王750 李720 张680 刘600 陈400 杨300 赵260 孙230 于180 马160 徐150 吴140 周140 黄130 高130 韩100 "
    "朱110 郭110 胡100 姜80 宋80 何80 林70 郑70 梁70 冯70 曹70 田70 董70 罗60 谢60 唐60 许60 魏60 吕60 "
    "崔60 邓50 肖50 袁50 杜50 程50 苏50 丁50 任50 金50 石50 贾50 付50 白50 孟50 闫50 彭40 潘40 蒋40 蔡40 "
    "沈40 姚40 卢40 范40 尹40 侯40 郝40 武40 关40 曾30 余30 叶30 钟30 谭30 陆30 汪30 夏30 方30 邹30 秦30 "
    "薛30 段30 史30 贺30 邵30 孔30 常30 牛30 齐30 廖20 韦20 熊20 邱20 江20 雷20 龙20 陶20 顾20 毛20 万20 "
    "钱20 严20 戴20 汤20 佟20 鲁20 葛20 隋20 庞20 单20 焦20 宫20 安20 黎10 龚10 覃10 莫10 向10 车10 赫10 "
    "那10 初10 栾10 臧10 鞠10"
)
SURNAMES = "".join(re.findall(r"\D", _SURNAME_WEIGHTS))
_SURNAME_POOL = "".join(char * int(weight) for char, weight in re.findall(r"(\D)(\d+)", _SURNAME_WEIGHTS))
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "尉迟", "公孙")

# Two-character given names by generation (born before 1966, 1966-1985, after 1985) and gender.
_GIVEN2 = {
    ("male", 0): "建国 国庆 建华 振华 德福 永福 宝山 长顺 志刚 玉林 凤山 福贵 树林 文华 庆祥 玉才 占山 春生 国华 "
                 "金山 德胜 立新 卫东 跃进 永祥 学文 广才 明德 连生 宝华 福山 德才 万林 殿臣",
    ("female", 0): "淑珍 秀英 桂兰 玉兰 凤兰 玉珍 秀兰 桂芝 淑华 凤英 玉梅 秀珍 桂英 素芬 淑兰 玉芬 春兰 桂荣 "
                   "秀云 凤琴 淑芬 玉霞 翠花 秀芳 丽华 桂芳 秀荣 凤芝 玉凤 淑琴",
    ("male", 1): "志强 建军 海涛 国强 永刚 卫国 红军 立军 海峰 志勇 文斌 晓东 建伟 春雷 东升 庆华 宏伟 德明 海波 "
                 "俊峰 志军 铁军 春阳 永生 洪涛 振宇 晓光 立伟 玉龙 海龙 长江 大伟",
    ("female", 1): "红梅 海燕 丽娟 春梅 晓红 丽萍 艳华 秀梅 玉洁 丽娜 红霞 晓梅 春燕 丽丽 艳秋 雪梅 金凤 凤霞 "
                   "美玲 晓燕 彩霞 文静 丽敏 冬梅 亚楠 艳丽 秀娟 晓丽 春艳 红艳",
    ("male", 2): "浩然 子轩 梓轩 宇航 俊杰 博文 昊天 鹏飞 文博 子豪 浩宇 天宇 明轩 思远 嘉豪 一鸣 家豪 晨阳 "
                 "志鹏 泽宇 佳乐 宏宇 鑫磊 博涛 晓宇 宇轩 皓轩 俊熙 天佑 金鹏",
    ("female", 2): "欣怡 子涵 梓涵 佳琪 思雨 雨欣 诗琪 梦瑶 雅婷 欣悦 可欣 佳怡 雨婷 紫涵 思琪 嘉怡 晓雪 婷婷 "
                   "佳慧 梦琪 雪莹 心怡 玉婷 丹丹 佳欣 诗涵 雨桐 一诺 晓彤 美琪",
}
GIVEN2 = {key: tuple(text.split()) for key, text in _GIVEN2.items()}
# Single characters: a whole given name (two-character names such as 王伟) or half of one.
GIVEN1 = {
    "male": "伟强磊军勇杰涛明超刚平辉鹏浩宇鑫斌波峰亮林东龙健凯成华新国忠",
    "female": "芳娜敏静丽艳娟霞燕玲红梅琳莉萍丹颖雪慧洁倩婷璐晶欣玉英兰凤秀",
}
# Generation characters that start composed given names (张 + 春 + 燕, 李 + 子 + 豪).
GENERATION_CHARS = ("振德玉永长文福宝金树", "晓海立春红建志东丽秀", "子梓思佳雨浩一俊嘉梦")


def _generation(year: int) -> int:
    return 0 if year < 1966 else 1 if year < 1986 else 2


# ---------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------

TOWNS = (
    "城关镇", "兴隆镇", "五常镇", "拉林满族镇", "山河镇", "杜家镇", "向阳镇", "红星乡", "民乐朝鲜族乡", "长山乡",
    "永胜乡", "新华镇", "安家镇", "沙河子镇", "小山子镇", "龙凤山镇", "卫国乡", "营城子满族乡", "八家子乡", "二河乡",
    "志广乡", "背荫河镇", "牛家满族镇", "常堡乡", "冲河镇", "光辉镇", "亚布力镇", "一面坡镇", "苇河镇", "帽儿山镇",
    "鱼池朝鲜族乡", "庆阳镇", "三合乡", "松江镇", "西集镇", "富江乡", "乌河乡", "宾州镇", "新甸镇", "胜利镇",
)
VILLAGES = (
    "红旗村", "向阳村", "新民村", "胜利村", "太平村", "永安村", "东兴村", "长发村", "前进村", "光明村", "民主村",
    "团结村", "幸福村", "和平村", "新发村", "永胜村", "双河村", "三合村", "四合村", "五星村", "富强村", "保安村",
    "兴隆村", "东升村", "西沟村", "北山村", "南岗村", "靠山村", "河东村", "安乐村", "新立村", "丰收村", "友谊村",
    "建设村", "治安村", "长山村", "荣华村", "联合村", "双井村", "大房子村", "腰屯村", "后屯村", "前屯村", "柳树村",
    "榆树村", "杨树村", "平安村", "福兴村", "万宝村", "金星村",
)
STREETS = (
    "人民路", "中山路", "建设街", "和平路", "解放路", "新华街", "胜利路", "友谊路", "文化街", "长江路", "松花江街",
    "东风路", "红旗大街", "站前街", "北环路", "南大街", "西大街", "东大街", "兴华街", "幸福街", "光明路", "民主街",
    "团结路", "学府路", "工农街", "朝阳路", "迎宾路", "振兴路", "繁荣街", "健康路",
)

# Provinces that ID numbers come from, besides the bank's own: neighbours and the provinces
# the north-east drew settlers from weigh most. Taiwan, Hong Kong and Macau are left out
# (their residents hold other documents).
_OTHER_PROVINCE_WEIGHTS = {
    "22": 22, "21": 18, "37": 14, "13": 9, "15": 9, "41": 6, "11": 3, "12": 2, "14": 2, "32": 1, "34": 1, "51": 1,
    "42": 1, "43": 1, "44": 1, "36": 1, "61": 1, "62": 1, "31": 1, "33": 1, "35": 1, "45": 1, "46": 1, "50": 1,
    "52": 1, "53": 1, "54": 1, "63": 1, "64": 1, "65": 1,
}
_EXCLUDED_PROVINCES = ("71", "81", "82")

_LOC_PROVINCE_RE = re.compile(r'^(\d{2})\s+province="([^"]*)"')
_LOC_COUNTY_RE = re.compile(r'^\s+(\d{4})\s+county="([^"]*)"')
_LOC_ERA_RE = re.compile(r"^\[(\d{4})?-(\d{4})?\]")
_FIRST_YEAR = 1980  # GB/T 2260 was first published in 1980: codes without a start year existed then
_OPEN = 9999


@functools.cache
def county_eras() -> dict[str, tuple[int, int, str]]:
    """``{code: (first year, last year, latest name)}`` for every county-level code in any era.

    Prefecture codes (``xxxx00``) and the "市辖区" aggregate codes are left out. The years come
    from python-stdnum's ``loc.dat``: ``[1996-]`` → (1996, 9999), ``[-2004]`` → (1980, 2004).
    """
    known = set(county_codes())
    data = (importlib.resources.files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    eras: dict[str, tuple[int, int, str]] = {}
    province = ""
    for line in data.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LOC_PROVINCE_RE.match(line)
        if match:
            province = match.group(1)
            continue
        match = _LOC_COUNTY_RE.match(line)
        if not match or not province:
            continue
        code = province + match.group(1)
        if code.endswith("00") or code not in known:
            continue
        first, last = _OPEN, 0
        for part in (p.strip() for p in match.group(2).split(",")):
            era = _LOC_ERA_RE.match(part)
            start = int(era.group(1)) if era and era.group(1) else _FIRST_YEAR
            end = int(era.group(2)) if era and era.group(2) else _OPEN
            first, last = min(first, start), max(last, end)
        if code in eras:
            first, last = min(first, eras[code][0]), max(last, eras[code][1])
        eras[code] = (first, last, county_name(code) or "")
    return {code: era for code, era in eras.items() if era[2] not in ("市辖区", "县", "")}


# ---------------------------------------------------------------------------
# Mobile phones
# ---------------------------------------------------------------------------

# Three-digit carrier prefixes and how common they are among rural customers.
_MOBILE_FAMILY_WEIGHTS = {"13": 5, "15": 4, "18": 4, "17": 1, "19": 1, "14": 1, "16": 1}
_MOBILE_SAMPLES = ("0000000", "9999999", "5555555", "1234567", "8765432", "3141592")
@functools.cache
def mobile_prefixes() -> tuple[str, ...]:
    """Four-digit mobile prefixes whose numbers all pass :func:`validate_mobile`, repeated by weight.

    Checked once against the installed phonenumbers metadata (a handful of numbers per
    prefix), so a generated number ``prefix + 7 digits`` needs no check of its own.
    """
    pool: list[str] = []
    for value in range(1000, 2000):
        prefix = str(value)
        weight = _MOBILE_FAMILY_WEIGHTS.get(prefix[:2])
        if not weight:
            continue
        try:
            for suffix in _MOBILE_SAMPLES:
                validate_mobile(prefix + suffix)
        except Exception:  # noqa: S112 - a range with unassigned numbers: not used
            continue
        pool.extend([prefix] * weight)
    return tuple(pool)


# ---------------------------------------------------------------------------
# Companies and collectives
# ---------------------------------------------------------------------------

BRAND_FIRST = "鑫金华宏恒永盛兴隆丰泰顺鼎瑞福祥德源达润昌广富嘉聚益"
BRAND_SECOND = "源达通泰丰盛华兴隆润昌发鑫旺顺利安康宇佳"
COMPANY_WORDS = ["丰收", "兴农", "绿源", "金谷", "黑土地", "寒地", "松花江", "龙江", "鑫达", "宏远", "华泰", "永盛", "恒通",
                 "天润"]
# (kind, GB/T 4754 section, detailed codes of that section used now and then)
COMPANY_KINDS = [("农业发展有限公司", "A"), ("粮食贸易有限公司", "F"), ("建筑工程有限公司", "E"), ("食品加工有限公司", "C"),
                 ("物流有限公司", "G"), ("餐饮管理有限公司", "H"), ("农机专业合作社", "A"), ("商贸有限公司", "F"),
                 ("信息技术有限公司", "I"), ("家庭农场", "A")]
_LIMITED = (
    ("农业发展有限公司", "A", ("A0111", "A0113", "A0121")), ("粮食贸易有限公司", "F", ("F5111",)),
    ("米业有限公司", "C", ("C1311",)), ("食品有限公司", "C", ("C1313", "C1391")), ("建筑工程有限公司", "E", ("E4710",)),
    ("物流有限公司", "G", ("G5430",)), ("餐饮管理有限公司", "H", ("H6210",)), ("商贸有限公司", "F", ("F5212",)),
    ("信息技术有限公司", "I", ("I6510",)), ("农机销售有限公司", "F", ("F5175",)), ("牧业有限公司", "A", ("A0311",)),
    ("建材有限公司", "F", ()), ("汽车销售服务有限公司", "F", ()), ("房地产开发有限公司", "K", ("K7010",)),
    ("木业有限公司", "C", ("C2021",)), ("酒业有限公司", "C", ("C1512",)), ("生物科技有限公司", "M", ()),
    ("热力有限公司", "D", ("D4430",)), ("医药连锁有限公司", "F", ("F5251",)), ("家政服务有限公司", "O", ("O8010",)),
)
_SOLE = (
    ("粮油店", "F"), ("农资经销部", "F"), ("饭店", "H"), ("超市", "F"), ("五金建材商店", "F"), ("汽车修理部", "O"),
    ("理发店", "O"), ("农机维修部", "O"), ("烟酒超市", "F"), ("水果店", "F"), ("服装店", "F"), ("手机店", "F"),
    ("养殖场", "A"), ("种植场", "A"), ("家庭农场", "A"), ("烧烤店", "H"), ("诊所", "Q"), ("粮食收购点", "F"),
)
_COOPS = (
    ("水稻种植专业合作社", "A0111"), ("玉米种植专业合作社", "A0113"), ("大豆种植专业合作社", "A0121"),
    ("农机专业合作社", "A0512"), ("生猪养殖专业合作社", "A0313"), ("肉牛养殖专业合作社", "A0311"),
    ("食用菌种植专业合作社", "A0142"), ("蔬菜种植专业合作社", "A0141"), ("杂粮种植专业合作社", "A"),
    ("鲜食玉米专业合作社", "A"),
)
# Codes a farmer household is filed under.
FARM_CODES = ("A0111", "A0111", "A0113", "A0113", "A0112", "A0121", "A0141", "A0142", "A0311", "A0313", "A0321")
# Sections of people who are neither farmers nor companies, repeated by weight.
PERSON_SECTIONS = "FFFFFHHHOOOCCEEGGPPQQSSIKJ"
PERSON_CODES = ("F5212", "H6210", "O8010", "G5430", "E4710", "P8331", "Q8411")

# USCC: (registration authority + type, share of the company customers).
USCC_KINDS = (("91", 0.45), ("92", 0.30), ("93", 0.15), ("N2", 0.07), ("N3", 0.03))
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CODE_VALUES = {char: int(char, 36) for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def org_code_check(first8: str) -> str:
    """The GB 11714 check character of an organisation code (the 9th character)."""
    total = sum(_ORG_CODE_VALUES[char] * weight for char, weight in zip(first8, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


# ---------------------------------------------------------------------------
# The single-value generator (demo bank, test factories)
# ---------------------------------------------------------------------------


class Synth:
    """A seeded generator, so demo banks and tests are reproducible."""

    def __init__(self, seed: int = 20261130, counties_prefix: str = "23"):
        self.random = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        codes = county_codes()
        local = [c for c in codes if c.startswith(counties_prefix) and not c.endswith("00")]
        self.counties = local or [c for c in codes if not c.endswith("00")]
        self.used_ids: set[str] = set()

    def person_name(self, *, gender: str | None = None, born: int | None = None) -> str:
        """A name with a realistic surname; the given name fits the gender and generation if known."""
        rnd = self.random
        gender = gender or rnd.choice(("male", "female"))
        return _name(rnd.random, gender, _generation(born or rnd.randrange(1945, 2005)))

    def resident_id(self, *, born_from: int = 1950, born_to: int = 2002, gender: str | None = None) -> str:
        while True:
            county = self.random.choice(self.counties)
            start = date(born_from, 1, 1)
            birth = start + timedelta(days=self.random.randrange((date(born_to, 12, 31) - start).days))
            sequence = self.random.randrange(1, 999)
            if gender == "male" and sequence % 2 == 0:
                sequence += 1
            elif gender == "female" and sequence % 2 == 1:
                sequence += 1
            first17 = f"{county}{birth:%Y%m%d}{sequence:03d}"[:17]
            number = first17 + resident_id_check_digit(first17)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def uscc(self, kind: str = "91") -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            county = self.random.choice(self.counties)
            body = kind + county + "".join(self.random.choice(alphabet) for _ in range(9))
            number = body + uscc_check_char(body)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def mobile(self) -> str:
        prefixes = mobile_prefixes()
        return prefixes[self.random.randrange(len(prefixes))] + f"{self.random.randrange(10**7):07d}"

    def village_address(self) -> str:
        return f"{self.random.choice(TOWNS)}{self.random.choice(VILLAGES)}{self.random.randrange(1, 12)}组"

    def company_name(self) -> tuple[str, str]:
        kind, section = self.random.choice(COMPANY_KINDS)
        return f"{self.random.choice(COMPANY_WORDS)}{kind}", section

    def amount(self, low: int, high: int) -> int:
        """A whole yuan amount, log-uniform between low and high (balances are skewed)."""
        return int(math.exp(self.random.uniform(math.log(max(low, 1)), math.log(high))))


def _name(rnd, gender: str, generation: int) -> str:
    """A full name: weighted surname, 2-3 characters mostly, a compound surname now and then."""
    if rnd() < 0.01:
        surname = COMPOUND_SURNAMES[int(rnd() * len(COMPOUND_SURNAMES))]
    else:
        surname = _SURNAME_POOL[int(rnd() * len(_SURNAME_POOL))]
    singles = GIVEN1[gender]
    draw = rnd()
    if draw < 0.16 and len(surname) == 1:
        return surname + singles[int(rnd() * len(singles))]
    if draw < 0.40:
        pool = GENERATION_CHARS[generation]
        return surname + pool[int(rnd() * len(pool))] + singles[int(rnd() * len(singles))]
    names = GIVEN2[gender, generation]
    return surname + names[int(rnd() * len(names))]


# ---------------------------------------------------------------------------
# Seeded permutations (unique identifiers without remembering them)
# ---------------------------------------------------------------------------


class Permutation:
    """A seeded bijection of ``range(size)``: multiply/xor-shift rounds on the next power of two,
    walking the cycle until the value falls inside the range (fewer than two steps on average)."""

    def __init__(self, size: int, rnd: random.Random):
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.bits = max(size - 1, 1).bit_length()
        self.mask = (1 << self.bits) - 1
        self.shift = max(self.bits // 2, 1)
        self.keys = [(rnd.getrandbits(self.bits) | 1, rnd.getrandbits(self.bits)) for _ in range(3)]

    def __call__(self, value: int) -> int:
        if not 0 <= value < self.size:
            raise ValueError(f"{value} is outside range({self.size})")
        mask, shift, size = self.mask, self.shift, self.size
        (a1, c1), (a2, c2), (a3, c3) = self.keys
        while True:
            value = ((value * a1) + c1) & mask
            value ^= value >> shift
            value = ((value * a2) + c2) & mask
            value ^= value >> shift
            value = ((value * a3) + c3) & mask
            value ^= value >> shift
            if value < size:
                return value


# ---------------------------------------------------------------------------
# Registration-file rows
# ---------------------------------------------------------------------------

HEADER_ZH = ("客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "行业", "地址", "存款余额", "贷款余额", "年收入",
             "总资产", "总负债", "家庭人口", "担保方式", "客户状态")
HEADER_EN = ("customer_type", "name", "id_number", "phone", "org_code", "industry", "address", "deposit_balance",
             "loan_balance", "annual_income", "total_assets", "total_liabilities", "household_size", "guarantee_type",
             "status")
MONEY_COLUMNS = (7, 8, 9, 10, 11)
HOUSEHOLD_COLUMN = 12
TYPE_LABELS = {"person": "个人", "company": "公司", "farmer": "农户"}
GUARANTEE_LABELS = {"credit": "信用", "guarantee": "保证", "mortgage": "抵押", "pledge": "质押"}
STATUS_LABELS = {"existing": "存量", "prospect": "目标"}

FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR = 1940, 2005
# How many ID numbers per birth day (of 999 sequence numbers) each birth year may use: the
# shape of the age pyramid of a rural bank's customers (peak: born in the 1960s-70s).
_BIRTH_YEAR_SHAPE = ((1940, 120), (1950, 450), (1962, 999), (1975, 999), (1990, 800), (2000, 400), (2005, 200))
CHUNK = 10_000
_RID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RID_CHECK = "10X98765432"
# Guarantee type by customer type, repeated by weight.
_GUARANTEES = {
    "farmer": ("credit",) * 45 + ("guarantee",) * 35 + ("mortgage",) * 15 + ("pledge",) * 5,
    "person": ("credit",) * 40 + ("guarantee",) * 25 + ("mortgage",) * 30 + ("pledge",) * 5,
    "company": ("credit",) * 10 + ("guarantee",) * 35 + ("mortgage",) * 45 + ("pledge",) * 10,
}
_HOUSEHOLD_SIZES = (1,) * 4 + (2,) * 18 + (3,) * 28 + (4,) * 25 + (5,) * 14 + (6,) * 7 + (7,) * 3 + (8,) * 1
# (median, sigma) of log-normal amounts in yuan, and the share holding a loan when existing.
# Log-normal amounts in yuan, (median, sigma) of: deposit, loan, annual income, total assets;
# then the share of existing customers holding a loan.
_MONEY = {
    "person": ((30_000, 1.5), (120_000, 1.0), (50_000, 0.6), (300_000, 1.0), 0.22),
    "farmer": ((20_000, 1.4), (50_000, 0.9), (40_000, 0.7), (250_000, 0.9), 0.35),
    "company": ((300_000, 1.8), (1_000_000, 1.3), (2_000_000, 1.5), (5_000_000, 1.5), 0.50),
}
# Standard normal quantiles at 65 536 evenly spaced probabilities: a table look-up is much
# faster than random.gauss() and the tails still reach ±4.3 sigma.
_NORMAL = tuple(NormalDist().inv_cdf((k + 0.5) / 65_536) for k in range(65_536))
_MAX_AMOUNT = 5_000_000_000  # yuan: no generated amount is larger


def _interpolate(points: Sequence[tuple[int, int]], year: int) -> int:
    for (y0, v0), (y1, v1) in zip(points, points[1:], strict=False):
        if y0 <= year <= y1:
            return round(v0 + (v1 - v0) * (year - y0) / (y1 - y0))
    raise ValueError(year)


class CustomerFile:
    """Rows of a synthetic registration file (DESIGN.md "Customer fields"), in chunks of :data:`CHUNK`.

    Every chunk depends only on the seed, the org codes and its number. About 10 % companies
    (USCC 91/92/93/N2/N3), 45 % farmer households and 45 % persons; 75 % existing customers.
    """

    def __init__(self, seed: int, org_codes: Sequence[str], *, english: bool = False, counties_prefix: str = "23"):
        if not org_codes:
            raise ValueError("at least one org code is needed")
        self.seed = seed
        self.org_codes = tuple(org_codes)
        self.english = english
        self.header = HEADER_EN if english else HEADER_ZH
        setup = random.Random(f"guanxi-generate/{seed}/setup")  # noqa: S311 - synthetic data
        self._build_birth_slots()
        self._build_counties(counties_prefix)
        self.id_slots = Permutation(self.capacity, setup)
        self.digit_codes = Permutation(10**8, setup)
        self.ma_codes = Permutation(len(USCC_ALPHABET) ** 6, setup)
        self.mobile_prefixes = mobile_prefixes()

    # -- tables ------------------------------------------------------------

    def _build_birth_slots(self) -> None:
        self.year_starts: list[int] = []
        self.year_caps: list[int] = []
        self.year_first_day: list[int] = []
        self.date_strings: list[str] = []
        self.date_sums: list[int] = []
        slots = 0
        for year in range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1):
            cap = _interpolate(_BIRTH_YEAR_SHAPE, year)
            self.year_starts.append(slots)
            self.year_caps.append(cap)
            self.year_first_day.append(len(self.date_strings))
            day = date(year, 1, 1)
            while day.year == year:
                text = f"{day:%Y%m%d}"
                self.date_strings.append(text)
                self.date_sums.append(sum(int(c) * w for c, w in zip(text, _RID_WEIGHTS[6:14], strict=True)))
                day += timedelta(days=1)
                slots += cap
        self.capacity = slots
        self.seq_strings = [f"{seq:03d}" for seq in range(1000)]
        self.seq_sums = [sum(int(c) * w for c, w in zip(text, _RID_WEIGHTS[14:], strict=True))
                         for text in self.seq_strings]
        # Older customers are more often farmer households; tuned so about half the people are.
        shares = [min(0.85, max(0.2, 0.5 + 0.012 * (1975 - year)))
                  for year in range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1)]
        people = [cap * (366 if year % 4 == 0 else 365) for year, cap in
                  zip(range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1), self.year_caps, strict=True)]
        mean = sum(s * p for s, p in zip(shares, people, strict=True)) / sum(people)
        self.farmer_share = [min(0.95, s * 0.5 / mean) for s in shares]

    def _build_counties(self, prefix: str) -> None:
        eras = county_eras()
        by_province: dict[str, list[str]] = {}
        for code in eras:
            if code[:2] not in _EXCLUDED_PROVINCES:
                by_province.setdefault(code[:2], []).append(code)
        province = prefix[:2] if prefix[:2] in by_province else "23"
        local = by_province[province]
        capital = [c for c in local if c.startswith(province + "01")] or local
        rest = [c for c in local if c not in capital] or capital
        # Groups of codes and their weights: 80 % from the bank's province (half of it around the
        # capital, where the bank is), 20 % from the other provinces by _OTHER_PROVINCE_WEIGHTS.
        # A group is drawn first, then a code of it, uniformly (obsolete codes included).
        groups: list[tuple[list[str], float]] = [(capital, 0.40), (rest, 0.40)]
        others = {p: w for p, w in _OTHER_PROVINCE_WEIGHTS.items() if p != province and p in by_province}
        total = sum(others.values())
        groups += [(by_province[p], 0.20 * w / total) for p, w in others.items()]
        self.county_codes = sorted({code for codes, _weight in groups for code in codes})
        index = {code: i for i, code in enumerate(self.county_codes)}
        self.county_groups = [tuple(index[c] for c in codes) for codes, _weight in groups]
        self.county_group_pool = tuple(g for g, (_codes, weight) in enumerate(groups)
                                       for _ in range(round(weight * 10_000)))
        self.county_last = [eras[c][1] for c in self.county_codes]
        self.county_sums = [sum(int(ch) * w for ch, w in zip(c, _RID_WEIGHTS[:6], strict=True))
                            for c in self.county_codes]
        # Where customers live and companies are registered: county-level units in use today around
        # the capital; farmers live in counties and county-level cities, not in the city districts.
        home = sorted(c for c in capital if eras[c][1] == _OPEN and eras[c][2][-1:] in ("市", "县", "区"))
        self.home_counties = tuple((code, eras[code][2]) for code in home or self.county_codes[:1])
        rural = tuple(h for h in self.home_counties if h[1][-1:] in ("市", "县"))
        self.rural_counties = rural or self.home_counties
        # Ready-made address parts (fewer draws and joins per row).
        self.villages = tuple(f"{county}{town}{village}" for _code, county in self.rural_counties
                              for town in TOWNS for village in VILLAGES)
        self.streets = tuple(f"{county}{street}" for _code, county in self.home_counties for street in STREETS)

    # -- rows --------------------------------------------------------------

    def chunks(self, n: int) -> range:
        """The numbers of the chunks that make up ``n`` rows."""
        return range((n + CHUNK - 1) // CHUNK)

    def chunk(self, number: int, n: int) -> list[tuple[str, ...]]:
        """Rows ``number * CHUNK`` up to (not including) ``min((number + 1) * CHUNK, n)``."""
        start, stop = number * CHUNK, min((number + 1) * CHUNK, n)
        if stop > self.capacity:
            raise ValueError(f"at most {self.capacity} rows can be generated")
        rnd = random.Random(f"guanxi-generate/{self.seed}/{number}")  # noqa: S311 - synthetic data
        r = rnd.random
        exp = math.exp
        normal = _NORMAL
        n_normal = len(normal)
        orgs, n_orgs = self.org_codes, len(self.org_codes)
        mobiles, n_mobiles = self.mobile_prefixes, len(self.mobile_prefixes)
        villages, n_villages = self.villages, len(self.villages)
        streets, n_streets = self.streets, len(self.streets)
        groups = tuple(f"{group}组" for group in range(1, 13))
        house_numbers = tuple(f"{house}号" for house in range(1, 301))
        sizes, n_sizes = _HOUSEHOLD_SIZES, len(_HOUSEHOLD_SIZES)
        farm_codes, person_codes, person_sections = FARM_CODES, PERSON_CODES, PERSON_SECTIONS
        labels = {} if self.english else {**TYPE_LABELS, **GUARANTEE_LABELS, **STATUS_LABELS}
        money = {ctype: _MONEY[ctype] for ctype in _MONEY}
        guarantees = _GUARANTEES
        company = self._company
        # Resident ID tables (everything the loop touches is a local name: this loop is the hot path).
        id_slots, bisect_right = self.id_slots, bisect.bisect_right
        year_starts, year_caps, year_first_day = self.year_starts, self.year_caps, self.year_first_day
        date_strings, date_sums, seq_strings, seq_sums = self.date_strings, self.date_sums, self.seq_strings, self.seq_sums
        county_pool, county_groups, county_last = self.county_group_pool, self.county_groups, self.county_last
        county_codes, county_sums, n_pool = self.county_codes, self.county_sums, len(self.county_group_pool)
        farmer_share, check_chars = self.farmer_share, _RID_CHECK
        generations = [_generation(year) for year in range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1)]
        surnames, n_surnames, compounds = _SURNAME_POOL, len(_SURNAME_POOL), COMPOUND_SURNAMES
        given1, given2, generation_chars = GIVEN1, GIVEN2, GENERATION_CHARS
        rows: list[tuple[str, ...]] = []
        append = rows.append
        for index in range(start, stop):
            if r() < 0.10:
                ctype, name, id_number, industry, address = company(r, index)
                household = ""
            else:
                slot = id_slots(index)
                year_index = bisect_right(year_starts, slot) - 1
                cap = year_caps[year_index]
                day, sequence = divmod(slot - year_starts[year_index], cap)
                sequence = 1 + sequence * 999 // cap
                day += year_first_day[year_index]
                # The county where the card was issued: its code must still have been in use when
                # the holder got the card (the first cards in 1985, at 16 at the earliest), but it
                # may be younger than the holder (230183 from 1996 on the card of someone born in 1950).
                latest = max(1985, FIRST_BIRTH_YEAR + year_index + 16)
                while True:
                    group = county_groups[county_pool[int(r() * n_pool)]]
                    county = group[int(r() * len(group))]
                    if county_last[county] >= latest:
                        break
                id_number = (county_codes[county] + date_strings[day] + seq_strings[sequence]
                             + check_chars[(county_sums[county] + date_sums[day] + seq_sums[sequence]) % 11])
                gender = "male" if sequence & 1 else "female"
                ctype = "farmer" if r() < farmer_share[year_index] else "person"
                # The name (see _name).
                generation = generations[year_index]
                surname = compounds[int(r() * len(compounds))] if r() < 0.01 else surnames[int(r() * n_surnames)]
                singles = given1[gender]
                draw = r()
                if draw < 0.16 and len(surname) == 1:
                    name = surname + singles[int(r() * len(singles))]
                elif draw < 0.40:
                    chars = generation_chars[generation]
                    name = surname + chars[int(r() * len(chars))] + singles[int(r() * len(singles))]
                else:
                    names = given2[gender, generation]
                    name = surname + names[int(r() * len(names))]
                if ctype == "farmer":
                    industry = "A" if r() < 0.5 else farm_codes[int(r() * len(farm_codes))]
                    address = villages[int(r() * n_villages)] + groups[int(r() * 12)]
                    household = str(sizes[int(r() * n_sizes)])
                else:
                    draw = r()
                    industry = ("" if draw < 0.2 else person_codes[int(r() * len(person_codes))] if draw < 0.3
                                else person_sections[int(r() * len(person_sections))])
                    address = streets[int(r() * n_streets)] + house_numbers[int(r() * 300)]
                    if r() < 0.5:
                        address += f"{1 + int(r() * 30)}栋{1 + int(r() * 6)}单元{1 + int(r() * 7)}0{1 + int(r() * 4)}室"
                    household = ""
            (dep_median, dep_sigma), (loan_median, loan_sigma), (inc_median, inc_sigma), \
                (ast_median, ast_sigma), loan_share = money[ctype]
            existing = r() < 0.75
            deposit = loan = 0.0
            deposit_text = loan_text = "0.00"
            if existing:
                if r() < 0.80:
                    deposit = min(dep_median * exp(dep_sigma * normal[int(r() * n_normal)]), _MAX_AMOUNT)
                    deposit_text = f"{deposit:.2f}"
                if r() < loan_share:
                    loan = min(loan_median * exp(loan_sigma * normal[int(r() * n_normal)]), _MAX_AMOUNT)
                    loan_text = f"{loan:.2f}"
            if existing or r() < 0.7:  # prospects often come without financial details
                income = inc_median * exp(inc_sigma * normal[int(r() * n_normal)])
                income_text = f"{income:.2f}" if ctype == "company" else f"{int(income) // 100}00.00"
                assets = ast_median * exp(ast_sigma * normal[int(r() * n_normal)])
                if assets < deposit * 1.1:
                    assets = deposit * 1.1
                if assets < loan * 1.25:
                    assets = loan * 1.25
                assets = min(int(assets) // 1000 * 1000 or 1000, _MAX_AMOUNT)
                # Liabilities include the bank loan; a few customers owe more than they own.
                liabilities = assets * (1.0 + r() * 0.5) if r() < 0.04 else assets * r() * 0.7
                liabilities = int(liabilities) // 100 * 100
                assets_text = f"{assets}.00"
                liabilities_text = f"{liabilities}.00" if liabilities >= loan else loan_text
            else:
                income_text = assets_text = liabilities_text = ""
            if loan or r() < 0.15:
                options = guarantees[ctype]
                guarantee = options[int(r() * len(options))]
            else:
                guarantee = ""
            phone = f"{mobiles[int(r() * n_mobiles)]}{int(r() * 10_000_000):07d}" if r() < 0.97 else ""
            status = "existing" if existing else "prospect"
            if labels:
                ctype, guarantee, status = labels[ctype], labels.get(guarantee, ""), labels[status]
            append((ctype, name, id_number, phone, orgs[int(r() * n_orgs)], industry, address, deposit_text,
                    loan_text, income_text, assets_text, liabilities_text, household, guarantee, status))
        return rows

    def rows(self, n: int) -> Iterator[tuple[str, ...]]:
        """All ``n`` rows, chunk by chunk (memory does not grow with ``n``)."""
        for number in self.chunks(n):
            yield from self.chunk(number, n)

    def _company(self, r, index: int) -> tuple[str, str, str, str, str]:
        draw, kind = r(), USCC_KINDS[-1][0]
        for candidate, share in USCC_KINDS:
            if draw < share:
                kind = candidate
                break
            draw -= share
        code, place = self.home_counties[int(r() * len(self.home_counties))]
        town = TOWNS[int(r() * len(TOWNS))]
        village = VILLAGES[int(r() * len(VILLAGES))]
        brand = BRAND_FIRST[int(r() * len(BRAND_FIRST))] + BRAND_SECOND[int(r() * len(BRAND_SECOND))]
        if kind == "91":
            suffix, section, codes = _LIMITED[int(r() * len(_LIMITED))]
            name = ("哈尔滨" if r() < 0.3 else place) + brand + suffix
            industry = codes[int(r() * len(codes))] if codes and r() < 0.4 else section
            address = (f"{place}{town}工业园区{1 + int(r() * 99)}号" if r() < 0.4
                       else f"{place}{STREETS[int(r() * len(STREETS))]}{1 + int(r() * 500)}号")
        elif kind == "92":
            suffix, industry = _SOLE[int(r() * len(_SOLE))]
            owner = _SURNAME_POOL[int(r() * len(_SURNAME_POOL))]
            name = place + (f"{owner}记" if r() < 0.5 else f"{town}{brand}") + suffix
            address = f"{place}{town}{STREETS[int(r() * len(STREETS))]}{1 + int(r() * 200)}号"
        elif kind == "93":
            suffix, industry = _COOPS[int(r() * len(_COOPS))]
            name = place + (f"{town}{village}" if r() < 0.5 else brand) + suffix
            address = f"{place}{town}{village}"
        elif kind == "N2":
            name = f"{place}{town}{village}股份经济合作社"
            industry = "A"
            address = f"{place}{town}{village}村民委员会"
        else:
            name = f"{place}{town}经济联合总社"
            industry = "A" if r() < 0.5 else "L"
            address = f"{place}{town}人民政府院内"
        # Characters 9-17: the organisation code (8 characters and its GB 11714 check), unique
        # per row: the older all-digit codes, or the "MA…" codes given out since 2015.
        if index % 2:
            body = f"{self.digit_codes(index // 2):08d}"
        else:
            value = self.ma_codes(index // 2)
            chars = []
            for _ in range(6):
                value, digit = divmod(value, len(USCC_ALPHABET))
                chars.append(USCC_ALPHABET[digit])
            body = "MA" + "".join(chars)
        first17 = kind + code + body + org_code_check(body)
        return "company", name, first17 + uscc_check_char(first17), industry, address
