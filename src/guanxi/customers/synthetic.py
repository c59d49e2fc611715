"""Synthetic but valid customer data: names, resident IDs over real county codes, USCCs, phones.

Used by the demo bank, the test factories and (later) `guanxi generate`. Never real people.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from guanxi.core.validators import county_codes, resident_id_check_digit, uscc_check_char, validate_mobile

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文辉建华玉兰红梅鹏飞宇浩然欣怡子涵梓轩佳琪志强春梅海燕国庆建国淑珍凤兰玉珍德福永福金凤宝山"
COMPANY_WORDS = ["丰收", "兴农", "绿源", "金谷", "黑土地", "北大荒", "松花江", "龙江", "鑫达", "宏远", "华泰", "永盛", "恒通", "天润"]
COMPANY_KINDS = [("农业发展有限公司", "A"), ("粮食贸易有限公司", "F"), ("建筑工程有限公司", "E"), ("食品加工有限公司", "C"),
                 ("物流有限公司", "G"), ("餐饮管理有限公司", "H"), ("农机专业合作社", "A"), ("商贸有限公司", "F"),
                 ("信息技术有限公司", "I"), ("家庭农场", "A")]
VILLAGES = ["红旗村", "向阳村", "新民村", "胜利村", "太平村", "永安村", "东兴村", "长发村"]
TOWNS = ["城关镇", "兴隆镇", "五常镇", "拉林镇", "山河镇", "杜家镇"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "156", "157", "158", "159", "176", "177", "178", "180", "181", "182", "183", "185", "186",
                   "187", "188", "189", "199"]


class Synth:
    """A seeded generator, so demo banks and tests are reproducible."""

    def __init__(self, seed: int = 20261130, counties_prefix: str = "23"):
        self.random = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        codes = county_codes()
        local = [c for c in codes if c.startswith(counties_prefix) and not c.endswith("00")]
        self.counties = local or [c for c in codes if not c.endswith("00")]
        self.used_ids: set[str] = set()

    def person_name(self) -> str:
        given = "".join(self.random.choice(GIVEN) for _ in range(self.random.choice((1, 2, 2))))
        return self.random.choice(SURNAMES) + given

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
        while True:
            number = self.random.choice(MOBILE_PREFIXES) + f"{self.random.randrange(10**8):08d}"
            try:
                return validate_mobile(number)
            except Exception:  # noqa: S112 - an unallocated range: draw again
                continue

    def village_address(self) -> str:
        return f"{self.random.choice(TOWNS)}{self.random.choice(VILLAGES)}{self.random.randrange(1, 12)}组"

    def company_name(self) -> tuple[str, str]:
        kind, section = self.random.choice(COMPANY_KINDS)
        return f"{self.random.choice(COMPANY_WORDS)}{kind}", section

    def amount(self, low: int, high: int) -> int:
        """A whole yuan amount, log-uniform between low and high (balances are skewed)."""
        import math

        return int(math.exp(self.random.uniform(math.log(max(low, 1)), math.log(high))))
