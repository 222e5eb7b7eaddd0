"""A deterministic demo data set: tiers, brands and catalogues, campaigns, creators, content,
tracked links, three months of clicks, orders waiting for attribution, and FX rates.

`seed_demo` only flushes; the caller commits. The same `seed` and `now` give the same rows (ids
aside, which the database assigns), so screenshots and manual test scripts stay stable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import string
import unicodedata
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from connect.accounts.models import Role, User
from connect.accounts.services import create_user
from connect.bounties.models import TaskKind, TaskStatus
from connect.bounties.services import TaskError, TaskInput, apply, create_task, set_task_status
from connect.brands.models import Brand, BrandDomain, BrandMember, BrandRole, BrandStatus, Product
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignRate,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus
from connect.conversions.models import Order, OrderLine, OrderStatus
from connect.core.money import exponent
from connect.core.security import hash_password, keyed_hash
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus, SocialAccount, SocialPlatform
from connect.fx.models import FxRate
from connect.payouts.models import PayoutMethod, Rail
from connect.promos.codes import ALPHABET
from connect.promos.models import CodeOrigin
from connect.promos.services import PromoError, issue_code
from connect.samples.services import AddressInput, SampleError, request_sample
from connect.tiers.models import Tier
from connect.tiers.services import default_tiers
from connect.tracking.models import Click, Link, LinkStatus

DEMO_PASSWORD = "connect-demo-2026"  # noqa: S105 - published demo credential, never production

ADMIN_EMAIL = "admin@connect.example"
FINANCE_EMAILS = ("finance@connect.example", "finance2@connect.example")

CLICK_DAYS = 90  # clicks spread over this many days before `now`
FX_DAYS = 100
PRIMARY_CLICKS = 4_800  # before duplicates
BOT_SHARE = 0.03
DUPLICATE_SHARE = 0.06
REVISIT_SHARE = 0.2  # a click by a visitor already seen on the same creator's links
CONVERSION_RATE = 0.28  # of human, unique clicks; generous, so the demo has money to show
UNATTRIBUTED_ORDERS = 150
SELF_REFERRAL_SHARE = 0.01
FIRST_ORDER_NUMBER = 100_001
LINK_CODE_LENGTH = 10
BASE62 = string.digits + string.ascii_letters


# --------------------------------------------------------------------------------------------
# Markets and creators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    language: str
    currency: str
    locale: str
    creators: int
    platforms: tuple[SocialPlatform, ...]
    #: Other countries that read the language, for content targeting and click geography.
    neighbours: tuple[str, ...]
    names: tuple[str, ...]


_P = SocialPlatform
_WESTERN_PLATFORMS = (_P.INSTAGRAM, _P.TIKTOK, _P.YOUTUBE, _P.FACEBOOK, _P.X, _P.TWITCH)

# fmt: off
MARKETS: dict[str, Market] = {
    "RU": Market("ru", "RUB", "ru", 9, (_P.VK, _P.TELEGRAM, _P.YOUTUBE, _P.TIKTOK), ("KZ", "BY"), (
        "Анна Смирнова", "Дмитрий Иванов", "Екатерина Волкова", "Максим Соколов",
        "Ольга Кузнецова", "Артём Попов", "Мария Лебедева", "Иван Новиков", "Алина Морозова",
        "Никита Павлов", "София Козлова", "Сергей Фёдоров",
    )),
    "FR": Market("fr", "EUR", "fr", 8, _WESTERN_PLATFORMS, ("BE", "CH", "CA"), (
        "Léa Martin", "Hugo Bernard", "Chloé Dubois", "Louis Thomas", "Manon Robert",
        "Gabriel Richard", "Camille Petit", "Jules Durand", "Inès Leroy", "Lucas Moreau",
        "Zoé Lefèvre", "Arthur Girard",
    )),
    "ES": Market("es", "EUR", "es", 8, _WESTERN_PLATFORMS, ("MX", "AR", "CO"), (
        "Lucía García", "Hugo Fernández", "Martina López", "Pablo Martínez", "Sofía Sánchez",
        "Álvaro Pérez", "Paula Gómez", "Daniel Ruiz", "Carmen Díaz", "Javier Moreno",
        "Valeria Muñoz", "Adrián Romero",
    )),
    "PL": Market("pl", "PLN", "pl", 8, _WESTERN_PLATFORMS, (), (
        "Zofia Nowak", "Jakub Kowalski", "Julia Wiśniewska", "Antoni Wójcik", "Maja Kowalczyk",
        "Szymon Kamiński", "Hanna Lewandowska", "Filip Zieliński", "Oliwia Szymańska",
        "Łukasz Woźniak", "Natalia Dąbrowska", "Kacper Kozłowski",
    )),
    "BR": Market("pt", "BRL", "pt_BR", 9, _WESTERN_PLATFORMS, ("PT",), (
        "Ana Silva", "João Santos", "Beatriz Oliveira", "Pedro Souza", "Larissa Rodrigues",
        "Gabriel Ferreira", "Júlia Alves", "Lucas Pereira", "Mariana Lima", "Rafael Gomes",
        "Camila Ribeiro", "Thiago Carvalho",
    )),
    "US": Market("en", "USD", "en", 8, _WESTERN_PLATFORMS, ("GB", "CA"), (
        "Emily Johnson", "Michael Smith", "Madison Williams", "Tyler Brown", "Ashley Jones",
        "Brandon Garcia", "Olivia Miller", "Jordan Davis", "Chloe Wilson", "Ethan Moore",
        "Hailey Taylor", "Marcus Anderson",
    )),
}
#: The one market of each headline creator (KOL-sized audience), by country.
HEADLINERS = ("BR", "US")
PENDING_CREATORS = 5
SUSPENDED_CREATORS = 1
#: Buyers from outside the six markets, for the long tail of click geography.
OTHER_COUNTRIES = ("DE", "IT", "PT", "GB", "NL", "UA", "KZ", "MX", "AR", "CL", "TR", "RO", "CZ")

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
    strict=True,
))
# fmt: on
_HANDLE_NICHES = ("tech", "style", "beauty", "reviews", "deals", "outdoor", "home", "daily")
_HANDLE_PATTERNS = ("{f}_{l}", "{f}{l}", "{f}-{l}", "{f}.{n}", "its_{f}", "{f}_{l}{d}")
#: Words creators add to their first name for a channel name, by language.
DISPLAY_SUFFIXES: dict[str, tuple[str, ...]] = {
    "en": ("Reviews", "Daily", "Finds", "Tech"),
    "ru": ("Обзоры", "Находки"),
    "fr": ("Trouvailles", "Style"),
    "es": ("Reseñas", "Chollos"),
    "pl": ("Recenzje", "Okazje"),
    "pt": ("Achadinhos", "Reviews"),
}

BIOS: dict[str, tuple[str, ...]] = {
    "en": ("Honest reviews of things I actually use.", "Tech, home and everyday finds."),
    "ru": ("Честные обзоры вещей, которыми пользуюсь сам.", "Техника, дом и полезные находки."),
    "fr": ("Des avis honnêtes sur ce que j'utilise vraiment.", "Beauté, mode et bons plans."),
    "es": ("Reseñas sinceras de lo que uso cada día.", "Tecnología, hogar y chollos."),
    "pl": ("Szczere recenzje rzeczy, których używam.", "Technologia, dom i okazje."),
    "pt": ("Reviews sinceros do que eu uso de verdade.", "Beleza, casa e achadinhos."),
}

# --------------------------------------------------------------------------------------------
# Brands, catalogues and campaigns
# --------------------------------------------------------------------------------------------

# fmt: off
# category -> (item, lowest price, highest price in USD)
CATEGORY_ITEMS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "phones": (
        ('Smartphone 6.1" 128 GB', 199, 499), ('Smartphone 6.7" 256 GB', 349, 899),
        ("Silicone case", 9, 25), ("Fast charger 65 W", 19, 39),
        ("Power bank 20,000 mAh", 25, 49), ("Screen protector, 2-pack", 7, 15),
    ),
    "audio": (
        ("True wireless earbuds", 29, 149), ("Over-ear ANC headphones", 79, 299),
        ("Bluetooth speaker", 25, 129), ("Soundbar 2.1", 99, 249), ("USB-C DAC dongle", 15, 39),
    ),
    "computers": (
        ('14" ultrabook', 599, 1299), ("Mechanical keyboard", 49, 149), ("Wireless mouse", 15, 59),
        ('27" QHD monitor', 199, 399), ("USB-C dock 11-in-1", 49, 119),
        ("Portable SSD 1 TB", 69, 139),
    ),
    "home": (
        ("Robot vacuum", 149, 449), ("Smart plug, 4-pack", 19, 39), ("LED desk lamp", 25, 69),
        ("Air purifier", 89, 229), ("Aroma diffuser", 19, 49), ("Linen bedding set", 79, 199),
        ("Scented candle", 12, 39),
    ),
    "beauty": (
        ("Vitamin C serum", 19, 49), ("Hyaluronic moisturiser", 19, 45),
        ("Mineral sunscreen SPF 50", 14, 32), ("Matte lipstick", 12, 29),
        ("Eau de parfum 50 ml", 49, 119), ("Ionic hair dryer", 49, 149),
        ("Makeup brush set", 19, 49),
    ),
    "fashion": (
        ("Linen shirt", 39, 89), ("Cashmere scarf", 59, 149), ("Leather tote bag", 89, 249),
        ("Silk blouse", 69, 159), ("Wide-leg trousers", 49, 119), ("Canvas sneakers", 39, 99),
        ("Wool coat", 149, 349),
    ),
    "outdoor": (
        ("2-person tent", 99, 299), ("Down sleeping bag", 89, 259), ("Trekking poles", 29, 79),
        ("30 L daypack", 39, 119), ("Headlamp 400 lm", 19, 49), ("Waterproof jacket", 89, 249),
        ("Insulated bottle 1 L", 19, 39),
    ),
    "sports": (
        ("Trail running shoes", 79, 159), ("Yoga mat", 19, 59), ("Adjustable dumbbells", 99, 299),
        ("Cycling helmet", 39, 129), ("Fitness tracker", 39, 129), ("Compression socks", 12, 25),
    ),
    "toys": (
        ("Building blocks set", 19, 89), ("Kids' binoculars", 15, 35),
        ("Remote-control car", 29, 89), ("Wooden puzzle", 9, 29), ("Kids' scooter", 39, 99),
        ("Camping playset", 25, 59),
    ),
}
CATEGORY_VARIANTS: dict[str, tuple[str, ...]] = {
    "phones": ("Black", "Silver", "Midnight Blue", "Graphite"),
    "audio": ("Black", "White", "Sand", "Graphite"),
    "computers": ("Space Grey", "Silver", "Black"),
    "home": ("White", "Oak", "Grey", "Sage"),
    "beauty": ("Classic", "Sensitive skin", "Travel size", "Gift edition"),
    "fashion": ("Ivory", "Navy", "Black", "Sand", "Olive"),
    "outdoor": ("Forest", "Graphite", "Glacier Blue", "Orange"),
    "sports": ("Black", "Lime", "Coral", "Blue"),
    "toys": ("Ages 3+", "Ages 6+", "Ages 8+"),
}
# fmt: on
#: Rough USD -> brand currency factor for catalogue prices.
PRICE_FACTORS = {"USD": 1.0, "EUR": 0.92, "PLN": 3.95}


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    visibility: Visibility
    status: CampaignStatus
    start_days_ago: int  # negative: starts in the future
    end_days_ago: int | None  # negative: ends in the future; None: open-ended
    rate_bps: int
    budget_major: int | None
    countries: tuple[str, ...]
    categories: tuple[str, ...]
    category_rates: tuple[tuple[str, int], ...] = ()
    hero_products: int = 0  # products with their own, higher rate
    hero_rate_bps: int = 0
    product_share: float = 1.0  # of the categories' products the campaign covers
    min_tier: str | None = None
    brief: str = ""


@dataclass(frozen=True)
class BrandSpec:
    name: str
    slug: str
    currency: str
    domains: tuple[str, ...]  # verified
    unverified_domains: tuple[str, ...]
    default_rate_bps: int
    return_window_days: int
    categories: tuple[str, ...]
    products: int
    product_lines: tuple[str, ...]
    sku_prefix: str
    owner_name: str
    locale: str
    campaigns: tuple[CampaignSpec, ...]
    #: (e-mail local part, name, role) of further staff.
    staff: tuple[tuple[str, str, BrandRole], ...] = ()
    age_days: int = 365


_O, _I = Visibility.OPEN, Visibility.INVITE
_ACTIVE, _ENDED, _DRAFT = CampaignStatus.ACTIVE, CampaignStatus.ENDED, CampaignStatus.DRAFT

# fmt: off
BRANDS: tuple[BrandSpec, ...] = (
    BrandSpec(
        name="Northwind Gadgets", slug="northwind", currency="USD",
        domains=("shop.northwind.example",), unverified_domains=("staging.northwind.example",),
        default_rate_bps=500, return_window_days=30,
        categories=("phones", "audio", "computers", "home"), products=80,
        product_lines=("Nimbus", "Vega", "Orbit", "Pulse", "Arc"), sku_prefix="NW",
        owner_name="Grace Chen", locale="en", age_days=540,
        campaigns=(
            CampaignSpec("Back to School Tech", _O, _ACTIVE, 60, -30, 800, 40_000, (),
                         ("computers", "audio"), (("computers", 600),), 2, 1200,
                         brief="Laptops, keyboards and earbuds for the new term. **Show them in "
                               "use** - desk set-ups and commutes work best."),
            CampaignSpec("Flagship Phone Launch", _I, _ACTIVE, 45, -45, 600, 100_000,
                         ("BR", "ES", "FR", "US"), ("phones",), (), 3, 1000, 0.5, "Pro",
                         brief="Invite-only launch of the new Vega phones. Unboxing plus one "
                               "week-later review; samples ship from our EU warehouse."),
            CampaignSpec("Smart Home Week", _O, _ENDED, 85, 55, 1000, 15_000, (), ("home",),
                         (), 1, 1500, brief="Everything that makes a flat smarter."),
            CampaignSpec("Always-on Accessories", _O, _ACTIVE, 120, None, 500, None, (),
                         ("phones", "audio"), (("audio", 700),),
                         brief="Evergreen programme: cases, chargers, earbuds."),
        ),
    ),
    BrandSpec(
        name="Maison Lumière", slug="maison-lumiere", currency="EUR",
        domains=("shop.maison-lumiere.example", "www.maison-lumiere.example"),
        unverified_domains=("lumiere-outlet.example",),
        default_rate_bps=800, return_window_days=14,
        categories=("beauty", "fashion", "home"), products=70,
        product_lines=("Lumière", "Éclat", "Rive Gauche", "Soleil", "Atelier"), sku_prefix="ML",
        owner_name="Claire Fontaine", locale="fr", age_days=420,
        staff=(("marketing", "Julien Marchand", BrandRole.MANAGER),),
        campaigns=(
            CampaignSpec("Printemps Beauté", _O, _ACTIVE, 50, -40, 1200, 30_000,
                         ("BR", "ES", "FR", "PL"), ("beauty",), (), 2, 1800,
                         brief="Our spring skincare line. Morning routines and before/after "
                               "(no filters, please)."),
            CampaignSpec("Atelier - sur invitation", _I, _ACTIVE, 70, None, 1500, 80_000, (),
                         ("beauty", "fashion"), (("fashion", 1300),), min_tier="Star",
                         brief="Our top creators only: the full Atelier collection."),
            CampaignSpec("Soldes d'hiver", _O, _ENDED, 95, 65, 1000, 20_000, ("ES", "FR"),
                         ("fashion", "home"), (("home", 800),),
                         brief="Winter sales: coats, scarves and home linen."),
            CampaignSpec("Collection Maison", _O, _DRAFT, -10, -70, 900, 10_000, (), ("home",),
                         brief="Draft: the autumn home collection."),
        ),
    ),
    BrandSpec(
        name="Tatra Outdoor", slug="tatra-outdoor", currency="PLN",
        domains=("sklep.tatra-outdoor.example",), unverified_domains=(),
        default_rate_bps=600, return_window_days=30,
        categories=("outdoor", "sports", "toys"), products=50,
        product_lines=("Giewont", "Rysy", "Kasprowy", "Halny", "Morskie Oko"), sku_prefix="TO",
        owner_name="Marek Zając", locale="pl", age_days=300,
        campaigns=(
            CampaignSpec("Sezon na szlaki", _O, _ACTIVE, 40, -50, 900, 150_000, (),
                         ("outdoor", "sports"), (("sports", 700),), 2, 1400,
                         brief="Trail season: tents, packs and shoes on real trails."),
            CampaignSpec("Winter Peaks", _O, _ENDED, 100, 70, 800, 60_000, ("PL", "RU"),
                         ("outdoor",), brief="Winter hiking kit."),
            CampaignSpec("Family Adventures", _I, _ACTIVE, 30, -60, 800, 100_000,
                         ("ES", "FR", "PL", "US"), ("toys", "outdoor"), (("toys", 1000),),
                         brief="Camping with kids: playsets, binoculars, small tents."),
        ),
    ),
)
# fmt: on

# --------------------------------------------------------------------------------------------
# Content, clicks and orders
# --------------------------------------------------------------------------------------------

_K = ContentKind
CONTENT_KINDS = ((_K.VIDEO, 40), (_K.POST, 30), (_K.REVIEW, 20), (_K.LIVE, 10))
CONTENT_STATUSES = (
    (ContentStatus.PUBLISHED, 88),
    (ContentStatus.SUBMITTED, 4),
    (ContentStatus.DRAFT, 3),
    (ContentStatus.FLAGGED, 3),
    (ContentStatus.REJECTED, 2),
)
KIND_CLICK_FACTOR = {_K.VIDEO: 1.5, _K.LIVE: 1.2, _K.POST: 1.0, _K.REVIEW: 0.8}

# fmt: off
TITLE_TEMPLATES: dict[str, dict[ContentKind, tuple[str, ...]]] = {
    "en": {_K.VIDEO: ("Unboxing: {p}", "{p} - worth it after 30 days?"),
           _K.POST: ("My new favourite: {p}", "Haul of the week: {p}"),
           _K.REVIEW: ("Honest review: {p}", "{p}: pros and cons"),
           _K.LIVE: ("Live: testing the {p} with you",)},
    "ru": {_K.VIDEO: ("Распаковка: {p}", "{p} - стоит ли брать?"),
           _K.POST: ("Моя новая находка: {p}",),
           _K.REVIEW: ("Честный обзор: {p}", "{p}: плюсы и минусы"),
           _K.LIVE: ("Эфир: тестируем {p} вместе",)},
    "fr": {_K.VIDEO: ("Déballage : {p}", "{p} : ça vaut le coup ?"),
           _K.POST: ("Mon nouveau coup de cœur : {p}",),
           _K.REVIEW: ("Avis honnête : {p}", "{p} : points forts et points faibles"),
           _K.LIVE: ("En direct : on teste {p} ensemble",)},
    "es": {_K.VIDEO: ("Unboxing: {p}", "{p}: ¿merece la pena?"),
           _K.POST: ("Mi nuevo favorito: {p}",),
           _K.REVIEW: ("Reseña sincera: {p}", "{p}: pros y contras"),
           _K.LIVE: ("En directo: probamos {p}",)},
    "pl": {_K.VIDEO: ("Unboxing: {p}", "{p} - czy warto?"),
           _K.POST: ("Moje nowe odkrycie: {p}",),
           _K.REVIEW: ("Szczera recenzja: {p}", "{p}: plusy i minusy"),
           _K.LIVE: ("Na żywo: testujemy {p}",)},
    "pt": {_K.VIDEO: ("Unboxing: {p}", "{p}: vale a pena?"),
           _K.POST: ("Meu novo favorito: {p}",),
           _K.REVIEW: ("Review sincero: {p}", "{p}: prós e contras"),
           _K.LIVE: ("Ao vivo: testando {p} com vocês",)},
}
# fmt: on
REFERRER_HOSTS: dict[SocialPlatform, tuple[str, ...]] = {
    _P.INSTAGRAM: ("l.instagram.com", "instagram.com"),
    _P.TIKTOK: ("tiktok.com",),
    _P.YOUTUBE: ("youtube.com", "m.youtube.com"),
    _P.VK: ("vk.com", "m.vk.com"),
    _P.TELEGRAM: ("t.me",),
    _P.FACEBOOK: ("l.facebook.com", "m.facebook.com"),
    _P.X: ("t.co",),
    _P.TWITCH: ("twitch.tv",),
}
USER_AGENTS: tuple[tuple[str, int], ...] = (
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        24,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        26,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Mobile/15E148 Instagram 330.0.0.0 (iPhone15,2; iOS 17_4; en_US)",
        12,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Mobile Safari/537.36 musical_ly_2023405040",
        8,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        12,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        6,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 4),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/122.0.0.0 YaBrowser/24.4.0.0 Safari/537.36",
        3,
    ),
)
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "TelegramBot (like TwitterBot)",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36",
)
BOT_COUNTRIES = ("US", "DE", "NL", "IE", "SG")
#: Order e-mail domains of made-up buyers.
BUYER_DOMAINS = ("mail.example", "post.example", "inbox.example")
#: An off-catalogue line some orders carry (gift wrap), price in the brand currency's cents.
GIFT_WRAP = ("GIFT-WRAP", 299)

#: Units per 1 EUR at the start of the FX history, decimals kept, daily volatility.
FX_START: dict[str, tuple[str, int, float]] = {
    "USD": ("1.0850", 4, 0.003),
    "GBP": ("0.85400", 5, 0.0025),
    "PLN": ("4.3050", 4, 0.003),
    "BRL": ("5.8900", 4, 0.006),
    "RUB": ("97.5000", 4, 0.007),
}


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class _LinkInfo:
    link: Link
    creator: Creator
    product: Product
    platform: SocialPlatform
    created_at: datetime
    weight: float
    clickable: bool


@dataclass
class _Visitor:
    visitor_id: str
    ip_hash: str
    user_agent: str
    country: str


@dataclass
class _Demo:
    """What one run has built so far."""

    rng: random.Random
    now: datetime
    tiers: dict[str, Tier] = field(default_factory=dict)
    brands: list[tuple[Brand, BrandSpec]] = field(default_factory=list)
    brand_owner_emails: list[str] = field(default_factory=list)
    products: dict[int, list[Product]] = field(default_factory=dict)  # by brand id
    campaigns: list[tuple[Campaign, CampaignSpec]] = field(default_factory=list)
    covered: dict[int, list[Product]] = field(default_factory=dict)  # by campaign id
    creators: list[Creator] = field(default_factory=list)
    platforms: dict[int, list[SocialAccount]] = field(default_factory=dict)  # by creator id
    #: Approved memberships with the time of the decision, by creator id.
    approved: dict[int, list[tuple[Campaign, datetime]]] = field(default_factory=dict)
    links: list[_LinkInfo] = field(default_factory=list)
    codes: set[str] = field(default_factory=set)
    ip_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.date()


def seed_demo(session: Session, *, seed: int = 7, now: datetime | None = None) -> dict[str, str]:
    """Fill an empty database with demo data; flush, never commit. Returns one login per role."""
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC).replace(microsecond=0)
    _refuse_if_present(session)
    demo = _Demo(rng=random.Random(seed), now=now)  # noqa: S311 - demo data, not secrets

    _seed_tiers(session, demo)
    staff = _seed_staff(session, demo)
    _seed_brands(session, demo)
    _seed_campaigns(session, demo)
    _seed_creators(session, demo)
    _seed_memberships(session, demo)
    _seed_payout_methods(session, demo)
    _seed_links(session, demo, _seed_content(session, demo))
    clicks = _seed_clicks(session, demo)
    _seed_orders(session, demo, clicks)
    _seed_fx_rates(session, demo)
    _seed_programmes(session, demo)
    session.flush()

    return {
        "admin": staff["admin"],
        "finance": staff["finance"],
        "brand": demo.brand_owner_emails[0],
        "creator": _busiest_creator_email(demo, clicks),
        "password": DEMO_PASSWORD,
    }


def _refuse_if_present(session: Session) -> None:
    if session.scalar(select(Brand.id).limit(1)) is not None:
        raise RuntimeError("demo data already present")
    fixed = [ADMIN_EMAIL, *FINANCE_EMAILS, *(f"owner@{b.slug}.example" for b in BRANDS)]
    taken = session.scalars(select(User.email).where(User.email.in_(fixed))).all()
    if taken:
        raise RuntimeError(f"demo data already present: user {', '.join(sorted(taken))} exists")


def _stamp(obj: Any, when: datetime) -> None:
    obj.created_at = when
    if hasattr(obj, "updated_at"):
        obj.updated_at = when


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole-second instant in [start, end]; `start` when the range is empty."""
    span = int((end - start).total_seconds())
    return start if span <= 0 else start + timedelta(seconds=rng.randint(0, span))


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _ascii(text: str) -> str:
    text = "".join(_CYRILLIC.get(ch, ch) for ch in text.lower()).replace("ł", "l")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in _ascii(text)).split()
    return "-".join(words)


def _hex(rng: random.Random, bits: int = 128) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _uuid_hex(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


# ---- tiers and staff -----------------------------------------------------------------------


def _seed_tiers(session: Session, demo: _Demo) -> None:
    for tier in default_tiers():
        tier.created_at = demo.now - timedelta(days=600)
        session.add(tier)
        demo.tiers[tier.name] = tier
    session.flush()


def _new_user(
    session: Session,
    demo: _Demo,
    email: str,
    name: str,
    role: Role,
    *,
    locale: str = "",
    age_days: int = 500,
) -> User:
    user = create_user(session, email=email, password=DEMO_PASSWORD, name=name, role=role)
    user.locale = locale
    _stamp(user, demo.now - timedelta(days=age_days))
    return user


def _seed_staff(session: Session, demo: _Demo) -> dict[str, str]:
    _new_user(session, demo, ADMIN_EMAIL, "Ada Admin", Role.ADMIN, age_days=700)
    _new_user(session, demo, FINANCE_EMAILS[0], "Felix Finance", Role.FINANCE, age_days=650)
    _new_user(session, demo, FINANCE_EMAILS[1], "Fatima Finance", Role.FINANCE, age_days=600)
    return {"admin": ADMIN_EMAIL, "finance": FINANCE_EMAILS[0]}


# ---- brands and catalogue ------------------------------------------------------------------


def _seed_brands(session: Session, demo: _Demo) -> None:
    for spec in BRANDS:
        created = demo.now - timedelta(days=spec.age_days)
        brand = Brand(
            name=spec.name,
            slug=spec.slug,
            status=BrandStatus.APPROVED,
            default_rate_bps=spec.default_rate_bps,
            click_param="cx_click",
            return_window_days=spec.return_window_days,
            currency=spec.currency,
            website=f"https://{spec.domains[0]}/",
        )
        _stamp(brand, created)
        brand.domains = [
            BrandDomain(domain=domain, verified_at=created + timedelta(hours=3), created_at=created)
            for domain in spec.domains
        ] + [
            BrandDomain(domain=domain, verified_at=None, created_at=created + timedelta(days=30))
            for domain in spec.unverified_domains
        ]
        session.add(brand)
        session.flush()  # three brands: the ids are worth a flush each
        owner = _new_user(
            session,
            demo,
            f"owner@{spec.slug}.example",
            spec.owner_name,
            Role.BRAND,
            locale=spec.locale,
            age_days=spec.age_days,
        )
        members = [(owner, BrandRole.OWNER)]
        for local, name, role in spec.staff:
            user = _new_user(
                session,
                demo,
                f"{local}@{spec.slug}.example",
                name,
                Role.BRAND,
                locale=spec.locale,
                age_days=spec.age_days - 20,
            )
            members.append((user, role))
        for user, role in members:
            session.add(BrandMember(brand=brand, user=user, role=role, created_at=created))
        products = _catalogue(demo, brand, spec, created)
        session.add_all(products)
        demo.brands.append((brand, spec))
        demo.brand_owner_emails.append(owner.email)
        demo.products[brand.id] = products
    session.flush()


def _price_minor(rng: random.Random, low: int, high: int, currency: str) -> int:
    major = int(rng.uniform(low, high) * PRICE_FACTORS[currency])
    return max(major, 1) * 100 - 1  # x.99


def _product_countries(rng: random.Random) -> list[str]:
    if rng.random() < 0.6:
        return []  # sells everywhere
    pool = [*MARKETS, *OTHER_COUNTRIES[:6]]
    return sorted(rng.sample(pool, rng.randint(3, 8)))


def _catalogue(demo: _Demo, brand: Brand, spec: BrandSpec, created: datetime) -> list[Product]:
    rng = demo.rng
    combos = [(cat, item) for cat in spec.categories for item in CATEGORY_ITEMS[cat]]
    products = []
    for n in range(spec.products):
        category, (item, low, high) = combos[n % len(combos)]
        line = rng.choice(spec.product_lines)
        variant = rng.choice(CATEGORY_VARIANTS[category])
        title = f"{line} {item}, {variant}"
        sku = f"{spec.sku_prefix}-{category[:3].upper()}-{n + 1:04d}"
        domain = spec.domains[n % len(spec.domains)]
        product = Product(
            brand=brand,
            sku=sku,
            title=title,
            url=f"https://{domain}/p/{_slug(f'{line} {item}')}-{sku.lower()}",
            price_minor=_price_minor(rng, low, high, spec.currency),
            currency=spec.currency,
            category=category,
            image_url="",
            countries=_product_countries(rng),
        )
        _stamp(product, created + timedelta(days=rng.randint(1, 60)))
        products.append(product)
    return products


# ---- campaigns -----------------------------------------------------------------------------


def _seed_campaigns(session: Session, demo: _Demo) -> None:
    rng = demo.rng
    pending: list[tuple[Campaign, list[Product]]] = []
    for brand, brand_spec in demo.brands:
        for spec in brand_spec.campaigns:
            starts = demo.today - timedelta(days=spec.start_days_ago)
            ends = (
                None
                if spec.end_days_ago is None
                else demo.today - timedelta(days=spec.end_days_ago)
            )
            in_scope = [p for p in demo.products[brand.id] if p.category in spec.categories]
            covered = in_scope
            if spec.product_share < 1:
                covered = rng.sample(in_scope, max(1, round(len(in_scope) * spec.product_share)))
                covered.sort(key=lambda p: p.sku)
            campaign = Campaign(
                brand_id=brand.id,
                name=spec.name,
                brief=spec.brief,
                starts_on=starts,
                ends_on=ends,
                countries=sorted(spec.countries),
                min_tier_id=demo.tiers[spec.min_tier].id if spec.min_tier else None,
                visibility=spec.visibility,
                status=spec.status,
                default_rate_bps=spec.rate_bps,
                tier_bonus=True,
                budget_minor=(
                    spec.budget_major * 10 ** exponent(brand.currency)
                    if spec.budget_major
                    else None
                ),
                currency=brand.currency,
                attribution_window_days=30,
            )
            _stamp(campaign, min(_at(starts - timedelta(days=7)), demo.now - timedelta(days=3)))
            campaign.rates = [
                CampaignRate(category=category, rate_bps=rate)
                for category, rate in spec.category_rates
            ] + [
                CampaignRate(product_id=product.id, rate_bps=spec.hero_rate_bps)
                for product in rng.sample(covered, spec.hero_products)
            ]
            session.add(campaign)
            pending.append((campaign, covered))
            demo.campaigns.append((campaign, spec))
    session.flush()
    for campaign, covered in pending:
        demo.covered[campaign.id] = covered
        session.add_all(
            CampaignProduct(
                campaign_id=campaign.id, product_id=p.id, created_at=campaign.created_at
            )
            for p in covered
        )
    session.flush()


# ---- creators ------------------------------------------------------------------------------


def _handle(rng: random.Random, full_name: str, taken: set[str]) -> str:
    first, last = (_slug(part).replace("-", "") for part in full_name.split(" ", 1))
    pattern = rng.choice(_HANDLE_PATTERNS)
    handle = pattern.format(f=first, l=last, n=rng.choice(_HANDLE_NICHES), d=rng.randint(1, 99))
    handle = handle.replace(".", "_")
    base, n = handle, 2
    while handle in taken:
        handle, n = f"{base}{n}", n + 1
    taken.add(handle)
    return handle


def _followers(rng: random.Random, headliner: bool) -> list[int]:
    """Follower counts of 1-3 accounts: a Pareto-tailed main account and smaller others."""
    if headliner:
        main = rng.randint(1_200_000, 3_500_000)
    else:
        main = min(int(3_000 * rng.paretovariate(0.9)), 8_000_000)
    extra = rng.choices((0, 1, 2), weights=(45, 40, 15))[0]
    return [main] + [int(main * rng.uniform(0.02, 0.5)) for _ in range(extra)]


def _plausible_tier(rng: random.Random, demo: _Demo, audience: int, headliner: bool) -> Tier:
    ladder = sorted(demo.tiers.values(), key=lambda t: t.rank)
    reachable = [t for t in ladder if t.min_audience <= audience]
    index = len(reachable) - 1
    if not headliner and index > 0 and rng.random() < 0.35:
        index -= 1  # audience alone does not make sales
    return reachable[index]


def _seed_creators(session: Session, demo: _Demo) -> None:
    rng = demo.rng
    password_hash = hash_password(DEMO_PASSWORD)  # one hash for all demo creators: fast
    handles = set(session.scalars(select(Creator.handle)))  # real sign-ups keep theirs
    people: list[tuple[str, str, bool]] = []  # country, name, headliner
    for country, market in MARKETS.items():
        names = rng.sample(market.names, market.creators)
        people += [
            (country, name, i == 0 and country in HEADLINERS) for i, name in enumerate(names)
        ]
    ordinary = [i for i, person in enumerate(people) if not person[2]]
    odd = rng.sample(ordinary, PENDING_CREATORS + SUSPENDED_CREATORS)
    statuses = dict.fromkeys(odd[:PENDING_CREATORS], CreatorStatus.PENDING)
    statuses.update(dict.fromkeys(odd[PENDING_CREATORS:], CreatorStatus.SUSPENDED))

    for index, (country, full_name, headliner) in enumerate(people):
        market = MARKETS[country]
        status = statuses.get(index, CreatorStatus.APPROVED)
        handle = _handle(rng, full_name, handles)
        created = demo.now - timedelta(days=rng.randint(130, 520), minutes=rng.randint(0, 1440))
        if status is CreatorStatus.PENDING:
            created = demo.now - timedelta(days=rng.randint(1, 12), minutes=rng.randint(0, 1440))
        user = User(
            email=f"{handle}@creators.example",
            password_hash=password_hash,
            name=full_name,
            role=Role.CREATOR,
            locale=market.locale,
        )
        _stamp(user, created)
        counts = _followers(rng, headliner)
        platforms = rng.sample(market.platforms, len(counts))
        languages = {market.language}
        if market.language != "en" and rng.random() < 0.3:
            languages.add("en")
        display_name = full_name
        if rng.random() < 0.3:
            suffix = rng.choice(DISPLAY_SUFFIXES[market.language])
            display_name = f"{full_name.split(' ')[0]} {suffix}"
        creator = Creator(
            user=user,
            display_name=display_name,
            handle=handle,
            country=country,
            languages=sorted(languages),
            payout_currency=market.currency,
            status=status,
            tier_id=None
            if status is CreatorStatus.PENDING
            else _plausible_tier(rng, demo, sum(counts), headliner).id,
            audience_size=sum(counts),
            bio=rng.choice(BIOS[market.language]),
            public_leaderboard=rng.random() < 0.4,
            approved_at=None
            if status is CreatorStatus.PENDING
            else created + timedelta(days=rng.randint(1, 4)),
        )
        _stamp(creator, created)
        creator.social_accounts = [
            SocialAccount(
                platform=platform,
                handle=handle.replace("-", "_"),
                followers=followers,
                created_at=created,
            )
            for platform, followers in zip(platforms, counts, strict=True)
        ]
        session.add(creator)
        demo.creators.append(creator)
    session.flush()
    demo.platforms = {c.id: list(c.social_accounts) for c in demo.creators}


# ---- payout methods ------------------------------------------------------------------------

# Test IBANs with valid checksums, one per SEPA market of the demo.
_DEMO_IBANS = {
    "FR": "FR1420041010050500013M02606",
    "ES": "ES9121000418450200051332",
    "PL": "PL61109010140000071219812874",
}


def _seed_payout_methods(session: Session, demo: _Demo) -> None:
    """Most creators have said how they are paid, on the rail their country allows; a few
    have not, so finance sees exceptions in a batch."""
    for n, creator in enumerate(demo.creators):
        if n % 9 == 0:
            continue
        if creator.country == "US":
            method = PayoutMethod(
                rail=Rail.STRIPE,
                stripe_account_id=f"acct_demo{creator.id:06d}",
                payouts_enabled=True,
            )
        elif creator.country in _DEMO_IBANS and creator.payout_currency == "EUR":
            method = PayoutMethod(
                rail=Rail.SEPA,
                iban=_DEMO_IBANS[creator.country],
                account_holder=_ascii(creator.display_name)[:70],
            )
        else:
            method = PayoutMethod(rail=Rail.PAYPAL, paypal_email=f"{creator.handle}@paypal.example")
        method.creator_id = creator.id
        session.add(method)
    session.flush()


# ---- campaign memberships ------------------------------------------------------------------


def _eligible(demo: _Demo, creator: Creator, campaign: Campaign) -> bool:
    if campaign.status is CampaignStatus.DRAFT:
        return False
    if campaign.countries and creator.country not in campaign.countries:
        return False
    if campaign.min_tier_id is None:
        return True
    ranks = {t.id: t.rank for t in demo.tiers.values()}
    return creator.tier_id is not None and ranks[creator.tier_id] >= ranks[campaign.min_tier_id]


def _member_status(rng: random.Random, campaign: Campaign) -> MemberStatus:
    if campaign.visibility is Visibility.INVITE:
        return rng.choices((MemberStatus.APPROVED, MemberStatus.INVITED), weights=(65, 35))[0]
    return rng.choices(
        (MemberStatus.APPROVED, MemberStatus.APPLIED, MemberStatus.REJECTED), weights=(80, 15, 5)
    )[0]


def _seed_memberships(session: Session, demo: _Demo) -> None:
    rng = demo.rng
    for creator in demo.creators:
        if creator.status is CreatorStatus.PENDING:
            continue
        eligible = [c for c, _ in demo.campaigns if _eligible(demo, creator, c)]
        chosen = [
            c for c in eligible if rng.random() < (0.45 if c.visibility is Visibility.OPEN else 0.5)
        ]
        if not any(c.visibility is Visibility.OPEN for c in chosen):
            chosen.append(rng.choice([c for c in eligible if c.visibility is Visibility.OPEN]))
        approved: list[tuple[Campaign, datetime]] = []
        for campaign in chosen:
            status = _member_status(rng, campaign)
            if campaign is chosen[-1] and not approved:
                status = MemberStatus.APPROVED  # everyone active has somewhere to earn
            last = min(
                _at(campaign.ends_on) if campaign.ends_on else demo.now, demo.now
            ) - timedelta(hours=2)
            start = max(_at(campaign.starts_on), creator.approved_at or creator.created_at)
            joined = _between(rng, start, min(start + timedelta(days=20), last))
            decided = None
            if status in (MemberStatus.APPROVED, MemberStatus.REJECTED):
                decided = min(joined + timedelta(hours=rng.randint(1, 72)), last)
                decided = max(decided, joined)
            member = CampaignMember(
                campaign_id=campaign.id, creator_id=creator.id, status=status, decided_at=decided
            )
            _stamp(member, joined)
            member.updated_at = decided or joined
            session.add(member)
            if status is MemberStatus.APPROVED and decided is not None:
                approved.append((campaign, decided))
        demo.approved[creator.id] = approved
    session.flush()


# ---- content and links ---------------------------------------------------------------------


def _sells_in(product: Product, country: str) -> bool:
    return not product.countries or country in product.countries


def _pick_products(rng: random.Random, pool: list[Product], country: str) -> list[Product]:
    local = [p for p in pool if _sells_in(p, country)] or pool
    count = min(len(local), rng.choices((1, 2, 3), weights=(60, 30, 10))[0])
    return rng.sample(local, count)


def _external_url(rng: random.Random, platform: SocialPlatform, handle: str) -> str:
    token = "".join(rng.choice(BASE62) for _ in range(11))
    digits = str(rng.randrange(10**18, 10**19))
    return {
        _P.INSTAGRAM: f"https://www.instagram.com/p/{token}/",
        _P.TIKTOK: f"https://www.tiktok.com/@{handle}/video/{digits}",
        _P.YOUTUBE: f"https://www.youtube.com/watch?v={token}",
        _P.VK: f"https://vk.com/wall{digits[:9]}_{digits[9:13]}",
        _P.TELEGRAM: f"https://t.me/{handle}/{digits[:4]}",
        _P.FACEBOOK: f"https://www.facebook.com/{handle}/posts/{digits[:15]}",
        _P.X: f"https://x.com/{handle}/status/{digits}",
        _P.TWITCH: f"https://www.twitch.tv/videos/{digits[:10]}",
    }[platform]


def _content_countries(rng: random.Random, creator: Creator) -> list[str]:
    countries = {creator.country}
    neighbours = MARKETS[creator.country].neighbours
    if neighbours and rng.random() < 0.3:
        countries.update(rng.sample(neighbours, rng.randint(1, len(neighbours))))
    return sorted(countries)


def _pick_platform(rng: random.Random, accounts: list[SocialAccount]) -> SocialAccount:
    return rng.choices(accounts, weights=[a.followers + 1 for a in accounts])[0]


def _link_code(demo: _Demo) -> str:
    while True:
        code = "".join(demo.rng.choice(BASE62) for _ in range(LINK_CODE_LENGTH))
        if code not in demo.codes:
            demo.codes.add(code)
            return code


def _content_window(
    demo: _Demo, campaign: Campaign | None, decided: datetime | None, creator: Creator
) -> tuple[datetime, datetime]:
    """When a piece for `campaign` (or for no campaign) can have been published."""
    latest = demo.now - timedelta(hours=1)
    if campaign is None:
        start = max(demo.now - timedelta(days=110), creator.approved_at or creator.created_at)
        return start, latest
    end = min(_at(campaign.ends_on, 20), latest) if campaign.ends_on else latest
    start = max(decided or _at(campaign.starts_on), demo.now - timedelta(days=120))
    return start, max(start, end)


def _published_at(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """Creators post early in a campaign: skewed towards `start`."""
    return start + timedelta(seconds=int((end - start).total_seconds() * rng.random() ** 2))


def _new_link(
    demo: _Demo,
    creator: Creator,
    product: Product,
    *,
    campaign_id: int | None,
    content: Content | None,
    platform: SocialPlatform,
    created: datetime,
    weight: float,
    clickable: bool,
) -> Link:
    disabled = content is not None and content.status is ContentStatus.REJECTED
    link = Link(
        code=_link_code(demo),
        creator_id=creator.id,
        product_id=product.id,
        brand_id=product.brand_id,
        campaign_id=campaign_id,
        content_id=content.id if content is not None else None,
        destination_url=product.url,
        status=LinkStatus.DISABLED if disabled else LinkStatus.ACTIVE,
    )
    _stamp(link, created)
    demo.links.append(_LinkInfo(link, creator, product, platform, created, weight, clickable))
    return link


@dataclass
class _Piece:
    content: Content
    creator: Creator
    products: list[Product]
    platform: SocialPlatform


def _seed_content(session: Session, demo: _Demo) -> list[_Piece]:
    rng = demo.rng
    all_products = [p for products in demo.products.values() for p in products]
    kinds, kind_weights = zip(*CONTENT_KINDS, strict=True)
    statuses, status_weights = zip(*CONTENT_STATUSES, strict=True)
    pieces: list[_Piece] = []
    for creator in demo.creators:
        approved = demo.approved.get(creator.id, [])
        if not approved:
            continue
        language = MARKETS[creator.country].language
        # Bigger creators publish more: 1-3 pieces for small accounts, up to 7 for the largest.
        count = 1 + min(4, max(0, int(math.log10(creator.audience_size + 1)) - 3))
        for _ in range(count + rng.randint(0, 2)):
            campaign, decided = rng.choice(approved) if rng.random() < 0.85 else (None, None)
            pool = demo.covered[campaign.id] if campaign else all_products
            products = _pick_products(rng, pool, creator.country)
            kind = rng.choices(kinds, weights=kind_weights)[0]
            status = rng.choices(statuses, weights=status_weights)[0]
            account = _pick_platform(rng, demo.platforms[creator.id])
            created = _published_at(rng, *_content_window(demo, campaign, decided, creator))
            title = rng.choice(TITLE_TEMPLATES[language][kind]).format(p=products[0].title)
            flagged = status is ContentStatus.FLAGGED
            content = Content(
                creator_id=creator.id,
                campaign_id=campaign.id if campaign else None,
                kind=kind,
                title=title[:200],
                body="",
                language=language,
                countries=_content_countries(rng, creator),
                external_url=_external_url(rng, account.platform, account.handle),
                status=status,
                moderation_note="Matched keyword list: replica" if flagged else "",
            )
            _stamp(content, created)
            content.products = [
                ContentProduct(product_id=p.id, created_at=created) for p in products
            ]
            session.add(content)
            pieces.append(_Piece(content, creator, products, account.platform))
    session.flush()
    return pieces


def _seed_links(session: Session, demo: _Demo, pieces: list[_Piece]) -> None:
    """One link per content piece and product, plus a few shared without content (bio links)."""
    rng = demo.rng
    all_products = [p for products in demo.products.values() for p in products]
    for piece in pieces:
        content = piece.content
        reach = math.sqrt(piece.creator.audience_size + 100) * KIND_CLICK_FACTOR[content.kind]
        for product in piece.products:
            session.add(
                _new_link(
                    demo,
                    piece.creator,
                    product,
                    campaign_id=content.campaign_id,
                    content=content,
                    platform=piece.platform,
                    created=content.created_at,
                    weight=reach * rng.lognormvariate(0, 0.7),
                    clickable=content.status is ContentStatus.PUBLISHED,
                )
            )
    for creator in demo.creators:
        approved = demo.approved.get(creator.id, [])
        if not approved:
            continue
        reach = math.sqrt(creator.audience_size + 100) * 0.5
        for _ in range(rng.randint(0, 3)):
            campaign, decided = rng.choice(approved) if rng.random() < 0.8 else (None, None)
            pool = demo.covered[campaign.id] if campaign else all_products
            session.add(
                _new_link(
                    demo,
                    creator,
                    _pick_products(rng, pool, creator.country)[0],
                    campaign_id=campaign.id if campaign else None,
                    content=None,
                    platform=_pick_platform(rng, demo.platforms[creator.id]).platform,
                    created=_published_at(rng, *_content_window(demo, campaign, decided, creator)),
                    weight=reach * rng.lognormvariate(0, 0.7),
                    clickable=creator.status is CreatorStatus.APPROVED,
                )
            )
    session.flush()


# ---- clicks --------------------------------------------------------------------------------


def _fake_ip(rng: random.Random) -> str:
    return f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"


def _ip_hash(demo: _Demo, ip: str) -> str:
    if ip not in demo.ip_hashes:
        demo.ip_hashes[ip] = keyed_hash(ip, "ip")
    return demo.ip_hashes[ip]


def _click_country(rng: random.Random, creator: Creator) -> str:
    roll = rng.random()
    if roll < 0.75:
        return creator.country
    neighbours = MARKETS[creator.country].neighbours
    if roll < 0.85 and neighbours:
        return rng.choice(neighbours)
    if roll < 0.96:
        return rng.choice([c for c in MARKETS if c != creator.country])
    return rng.choice(OTHER_COUNTRIES)


_UA_STRINGS, _UA_WEIGHTS = zip(*USER_AGENTS, strict=True)


def _new_visitor(demo: _Demo, creator: Creator) -> _Visitor:
    rng = demo.rng
    return _Visitor(
        visitor_id=_hex(rng),
        ip_hash=_ip_hash(demo, _fake_ip(rng)),
        user_agent=rng.choices(_UA_STRINGS, weights=_UA_WEIGHTS)[0],
        country=_click_country(rng, creator),
    )


def _bot_visitor(demo: _Demo) -> _Visitor:
    rng = demo.rng
    return _Visitor(
        visitor_id=_hex(rng),  # bots keep no cookies: a new visitor every time
        ip_hash=_ip_hash(demo, _fake_ip(rng)),
        user_agent=rng.choice(BOT_USER_AGENTS),
        country=rng.choice(BOT_COUNTRIES),
    )


def _referrer(rng: random.Random, platform: SocialPlatform) -> str:
    roll = rng.random()
    if roll < 0.15:
        return ""  # in-app browsers and apps often send none
    if roll < 0.18:
        return "google.com"
    return rng.choice(REFERRER_HOSTS[platform])


def _click_row(
    demo: _Demo,
    info: _LinkInfo,
    at: datetime,
    visitor: _Visitor,
    referrer: str,
    *,
    is_bot: bool = False,
    is_duplicate: bool = False,
) -> dict[str, Any]:
    return {
        "click_id": _uuid_hex(demo.rng),
        "link_id": info.link.id,
        "clicked_at": at,
        "visitor_id": visitor.visitor_id,
        "ip_hash": visitor.ip_hash,
        "country": visitor.country,
        "user_agent": visitor.user_agent,
        "referrer_host": referrer,
        "is_bot": is_bot,
        "is_duplicate": is_duplicate,
    }


def _seed_clicks(session: Session, demo: _Demo) -> list[dict[str, Any]]:
    rng, now = demo.rng, demo.now
    targets = [info for info in demo.links if info.clickable]
    horizon = now - timedelta(days=CLICK_DAYS)
    latest = now - timedelta(minutes=1)
    pools: dict[int, list[_Visitor]] = defaultdict(list)  # visitors seen, by creator id
    rows: list[dict[str, Any]] = []
    for info in rng.choices(targets, weights=[t.weight for t in targets], k=PRIMARY_CLICKS):
        start = max(info.created_at, horizon)
        # Most clicks come soon after the content goes out, then trail off.
        at = start + (latest - start) * rng.random() ** 1.4
        at = at.replace(microsecond=0)
        if rng.random() < BOT_SHARE:
            rows.append(_click_row(demo, info, at, _bot_visitor(demo), "", is_bot=True))
            continue
        pool = pools[info.creator.id]
        if pool and rng.random() < REVISIT_SHARE:
            visitor = rng.choice(pool)
        else:
            visitor = _new_visitor(demo, info.creator)
            pool.append(visitor)
        referrer = _referrer(rng, info.platform)
        rows.append(_click_row(demo, info, at, visitor, referrer))
        if rng.random() < DUPLICATE_SHARE:  # a double tap or a reload
            again = min(at + timedelta(seconds=rng.randint(2, 900)), latest)
            rows.append(_click_row(demo, info, again, visitor, referrer, is_duplicate=True))
    rows.sort(key=lambda r: (r["clicked_at"], r["click_id"]))
    session.execute(insert(Click), rows)
    return rows


# ---- orders --------------------------------------------------------------------------------


def _order_delay(rng: random.Random) -> timedelta:
    roll = rng.random()
    if roll < 0.6:
        seconds = 60 + int(rng.expovariate(1 / 1200))  # same session
    elif roll < 0.9:
        seconds = rng.randint(3600, 7 * 86400)
    else:
        seconds = rng.randint(7 * 86400, 29 * 86400)
    return timedelta(seconds=min(seconds, 29 * 86400))


def _buyer_email(rng: random.Random) -> str:
    return f"buyer{rng.getrandbits(40):010x}@{rng.choice(BUYER_DOMAINS)}"


def _order_lines(
    rng: random.Random, first: Product | None, catalogue: list[Product]
) -> list[dict[str, Any]]:
    chosen = [first] if first is not None and rng.random() < 0.9 else []
    extra = rng.choices((0, 1, 2), weights=(70, 22, 8))[0] + (0 if chosen else 1)
    others = [p for p in catalogue if p not in chosen]
    chosen += rng.sample(others, extra)
    lines = []
    for product in chosen:
        price = product.price_minor
        if rng.random() < 0.15:
            price -= price // 10  # a 10 % promotion
        lines.append(
            {
                "sku": product.sku,
                "product_id": product.id,
                "category": product.category,
                "quantity": rng.choices((1, 2, 3), weights=(85, 12, 3))[0],
                "unit_price_minor": price,
            }
        )
    if rng.random() < 0.02:
        sku, price = GIFT_WRAP
        lines.append(
            {
                "sku": sku,
                "product_id": None,
                "category": "",
                "quantity": 1,
                "unit_price_minor": price,
            }
        )
    for n, line in enumerate(lines, start=1):
        line["line_no"] = n
    return lines


def _order(
    demo: _Demo,
    brand: Brand,
    ordered_at: datetime,
    country: str,
    email: str,
    *,
    click_id: str = "",
    visitor_id: str = "",
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    reported = min(ordered_at + timedelta(minutes=demo.rng.randint(1, 120)), demo.now)
    return {
        "brand_id": brand.id,
        "ordered_at": ordered_at,
        "currency": brand.currency,
        "customer_country": country,
        "customer_email_hash": keyed_hash(email, "email"),
        "click_id": click_id,
        "visitor_id": visitor_id,
        "promo_code": "",
        "status": OrderStatus.RECEIVED,
        "created_at": reported,
        "updated_at": reported,
        "_email": email,
        "_lines": lines,
    }


def _canonical_body(row: dict[str, Any]) -> str:
    """The JSON the brand would have sent: sorted keys, no spaces, UTC times with a Z."""
    body = {
        "order_id": row["external_id"],
        "ordered_at": row["ordered_at"].isoformat().replace("+00:00", "Z"),
        "currency": row["currency"],
        "customer_country": row["customer_country"],
        "customer_email": row["_email"],
        "click_id": row["click_id"] or None,
        "visitor_id": row["visitor_id"] or None,
        "lines": [
            {
                "line_no": x["line_no"],
                "sku": x["sku"],
                "quantity": x["quantity"],
                "unit_price_minor": x["unit_price_minor"],
            }
            for x in row["_lines"]
        ],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _seed_orders(session: Session, demo: _Demo, clicks: list[dict[str, Any]]) -> None:
    rng, now = demo.rng, demo.now
    by_link = {info.link.id: info for info in demo.links}
    brands = {brand.id: brand for brand, _ in demo.brands}
    rows: list[dict[str, Any]] = []
    for click in clicks:
        if click["is_bot"] or click["is_duplicate"] or rng.random() >= CONVERSION_RATE:
            continue
        ordered_at = click["clicked_at"] + _order_delay(rng)
        if ordered_at >= now:
            continue  # not bought yet
        info = by_link[click["link_id"]]
        brand = brands[info.product.brand_id]
        email = _buyer_email(rng)
        if rng.random() < SELF_REFERRAL_SHARE:
            email = info.creator.user.email  # the creator buying through their own link
        carries_click = rng.random() < 0.8  # else the brand only kept our visitor cookie
        rows.append(
            _order(
                demo,
                brand,
                ordered_at,
                click["country"],
                email,
                click_id=click["click_id"] if carries_click else "",
                visitor_id=click["visitor_id"],
                lines=_order_lines(rng, info.product, demo.products[brand.id]),
            )
        )
    countries = list(MARKETS) + list(OTHER_COUNTRIES)
    for _ in range(UNATTRIBUTED_ORDERS):  # the brand's own traffic: no click, no commission
        brand = rng.choice([b for b, _ in demo.brands])
        ordered_at = _between(rng, now - timedelta(days=CLICK_DAYS), now - timedelta(minutes=5))
        country = rng.choices(countries, weights=[10] * len(MARKETS) + [1] * len(OTHER_COUNTRIES))
        rows.append(
            _order(
                demo,
                brand,
                ordered_at,
                country[0],
                _buyer_email(rng),
                lines=_order_lines(rng, None, demo.products[brand.id]),
            )
        )

    rows.sort(key=lambda r: (r["ordered_at"], r["brand_id"], r["customer_email_hash"]))
    for n, row in enumerate(rows, start=FIRST_ORDER_NUMBER):
        row["external_id"] = f"SO-{n}"
        row["body_sha256"] = hashlib.sha256(_canonical_body(row).encode()).hexdigest()
    order_rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    ids = session.scalars(
        insert(Order).returning(Order.id, sort_by_parameter_order=True), order_rows
    ).all()
    line_rows = [
        {**line, "order_id": order_id}
        for order_id, row in zip(ids, rows, strict=True)
        for line in row["_lines"]
    ]
    session.execute(insert(OrderLine), line_rows)


# ---- FX ------------------------------------------------------------------------------------


def _seed_fx_rates(session: Session, demo: _Demo) -> None:
    rng = demo.rng
    first_day = demo.today - timedelta(days=FX_DAYS - 1)
    rows = []
    for currency, (start, places, volatility) in FX_START.items():
        anchor = float(start)
        value = anchor
        quantum = Decimal(1).scaleb(-places)
        for offset in range(FX_DAYS):
            day = first_day + timedelta(days=offset)
            value *= math.exp(rng.gauss(0, volatility))
            value += (anchor - value) * 0.03  # drift back towards the anchor
            rows.append(
                {
                    "day": day,
                    "currency": currency,
                    "rate": Decimal(repr(value)).quantize(quantum),
                    "created_at": min(_at(day, 16), demo.now),
                }
            )
    session.execute(insert(FxRate), rows)


# ---- the result ----------------------------------------------------------------------------


def _busiest_creator_email(demo: _Demo, clicks: list[dict[str, Any]]) -> str:
    """The approved creator with the most human clicks: the most interesting one to log in as."""
    creator_of = {info.link.id: info.creator for info in demo.links}
    counts = Counter(
        creator_of[c["link_id"]].id for c in clicks if not c["is_bot"] and not c["is_duplicate"]
    )
    approved = [c for c in demo.creators if c.status is CreatorStatus.APPROVED]
    best = max(approved, key=lambda c: (counts[c.id], -c.id))
    return best.user.email


def _seed_programmes(session: Session, demo: _Demo) -> None:
    """Promo codes, paid content tasks and sample requests, made through their services so the
    demo shows what their rules allow. Codes come from the demo's random generator (the same
    seed gives the same codes); a rule that refuses one item skips it."""
    owners = {
        brand.id: session.scalar(select(User.id).where(User.email == email))
        for (brand, _), email in zip(demo.brands, demo.brand_owner_emails, strict=False)
    }
    today = demo.today
    for creator in demo.creators:
        for campaign, _ in demo.approved.get(creator.id, [])[:2]:
            code = "".join(demo.rng.choice(ALPHABET) for _ in range(8))
            try:
                with session.begin_nested():
                    issue_code(
                        session,
                        campaign,
                        creator.id,
                        code=code,
                        discount_bps=demo.rng.choice((500, 1000, 1500)),
                        valid_from=today - timedelta(days=30),
                        valid_until=today + timedelta(days=60),
                        origin=CodeOrigin.BRAND,
                        actor_id=owners[campaign.brand_id],
                        today=today,
                    )
            except PromoError:
                continue
    tasks = []
    for campaign, _ in demo.campaigns[:3]:
        try:
            with session.begin_nested():
                task = create_task(
                    session,
                    campaign.brand_id,
                    TaskInput(
                        campaign_id=campaign.id,
                        kind=TaskKind.REVIEW,
                        title=f"Honest review: {campaign.name}"[:120],
                        brief="Film an honest **review** of one product of the campaign.",
                        fee_minor=15_000,
                        currency=campaign.currency,
                        slots=3,
                        deadline=today + timedelta(days=21),
                        countries=[],
                        min_tier_id=None,
                        source_content_id=None,
                    ),
                    actor_id=owners[campaign.brand_id],
                    today=today,
                )
                set_task_status(
                    session, task, TaskStatus.OPEN, actor_id=owners[campaign.brand_id], today=today
                )
                tasks.append(task)
        except TaskError:
            continue
    samples = 0
    for creator in demo.creators:
        for campaign, _ in demo.approved.get(creator.id, []):
            products = demo.covered.get(campaign.id) or demo.products.get(campaign.brand_id, [])
            for task in tasks:
                if task.campaign_id == campaign.id:
                    with contextlib.suppress(TaskError), session.begin_nested():
                        apply(session, task, creator, "", actor_id=creator.user_id, today=today)
            if samples >= 4 or not products:
                continue
            try:
                with session.begin_nested():
                    request_sample(
                        session,
                        creator,
                        campaign.id,
                        products[0].id,
                        AddressInput(
                            shipping_country=creator.country,
                            recipient_name=creator.display_name,
                            address_line1="1 Demo Street",
                            address_line2="",
                            city="Demo City",
                            region="",
                            postal_code="10001",
                            phone="",
                        ),
                        actor_id=creator.user_id,
                        now=demo.now,
                    )
                    samples += 1
            except SampleError:
                continue
