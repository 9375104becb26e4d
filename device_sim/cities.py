"""Real cities, by province, for placing machines and service stations (WGS 84, degrees).

The first city of each province is its capital; the order after that is roughly by
size, which is the order the network generator gives out station tiers in. China keeps
one time zone (UTC+8), which the duty cycles use for "local" working hours.
"""

from __future__ import annotations

from dataclasses import dataclass

UTC_OFFSET_H = 8.0


@dataclass(frozen=True)
class City:
    name: str
    province: str
    latitude: float
    longitude: float


_TABLE: dict[str, list[tuple[str, float, float]]] = {
    "Hunan": [
        ("Changsha", 28.2282, 112.9388),
        ("Zhuzhou", 27.8274, 113.1340),
        ("Hengyang", 26.8968, 112.5719),
        ("Yueyang", 29.3570, 113.1289),
        ("Changde", 29.0316, 111.6985),
        ("Xiangtan", 27.8297, 112.9441),
        ("Yiyang", 28.5539, 112.3552),
        ("Chenzhou", 25.7706, 113.0146),
    ],
    "Hubei": [
        ("Wuhan", 30.5928, 114.3055),
        ("Yichang", 30.6919, 111.2865),
        ("Xiangyang", 32.0090, 112.1224),
        ("Jingzhou", 30.3349, 112.2396),
        ("Huangshi", 30.1995, 115.0389),
        ("Shiyan", 32.6292, 110.7980),
        ("Xiaogan", 30.9244, 113.9169),
    ],
    "Jiangxi": [
        ("Nanchang", 28.6820, 115.8579),
        ("Ganzhou", 25.8310, 114.9335),
        ("Jiujiang", 29.7051, 116.0019),
        ("Shangrao", 28.4545, 117.9433),
        ("Yichun", 27.8043, 114.4166),
    ],
    "Anhui": [
        ("Hefei", 31.8206, 117.2272),
        ("Wuhu", 31.3529, 118.4331),
        ("Bengbu", 32.9163, 117.3889),
        ("Anqing", 30.5430, 117.0635),
        ("Fuyang", 32.8900, 115.8142),
        ("Ma'anshan", 31.6705, 118.5064),
    ],
    "Jiangsu": [
        ("Nanjing", 32.0603, 118.7969),
        ("Suzhou", 31.2990, 120.5853),
        ("Wuxi", 31.4912, 120.3119),
        ("Xuzhou", 34.2058, 117.2841),
        ("Changzhou", 31.8106, 119.9741),
        ("Nantong", 31.9802, 120.8943),
        ("Yangzhou", 32.3942, 119.4129),
    ],
    "Shanghai": [
        ("Shanghai", 31.2304, 121.4737),
        ("Pudong", 31.2215, 121.5440),
        ("Jiading", 31.3838, 121.2655),
        ("Songjiang", 31.0322, 121.2277),
    ],
    "Zhejiang": [
        ("Hangzhou", 30.2741, 120.1551),
        ("Ningbo", 29.8683, 121.5440),
        ("Wenzhou", 27.9938, 120.6994),
        ("Jinhua", 29.0790, 119.6474),
        ("Shaoxing", 29.9958, 120.5861),
        ("Taizhou", 28.6564, 121.4208),
    ],
    "Henan": [
        ("Zhengzhou", 34.7466, 113.6253),
        ("Luoyang", 34.6197, 112.4540),
        ("Nanyang", 32.9908, 112.5283),
        ("Xinxiang", 35.3030, 113.9268),
        ("Kaifeng", 34.7972, 114.3076),
        ("Xinyang", 32.1470, 114.0913),
    ],
    "Guangdong": [
        ("Guangzhou", 23.1291, 113.2644),
        ("Shenzhen", 22.5431, 114.0579),
        ("Dongguan", 23.0207, 113.7518),
        ("Foshan", 23.0215, 113.1214),
        ("Huizhou", 23.1115, 114.4152),
        ("Shantou", 23.3541, 116.6820),
        ("Zhanjiang", 21.2707, 110.3594),
    ],
    "Sichuan": [
        ("Chengdu", 30.5728, 104.0668),
        ("Mianyang", 31.4675, 104.6796),
        ("Nanchong", 30.8373, 106.1106),
        ("Yibin", 28.7513, 104.6417),
        ("Luzhou", 28.8717, 105.4423),
        ("Deyang", 31.1270, 104.3979),
    ],
    "Shandong": [
        ("Jinan", 36.6512, 117.1201),
        ("Qingdao", 36.0671, 120.3826),
        ("Yantai", 37.4638, 121.4479),
        ("Weifang", 36.7069, 119.1618),
        ("Linyi", 35.1041, 118.3564),
        ("Jining", 35.4147, 116.5871),
    ],
    "Hebei": [
        ("Shijiazhuang", 38.0428, 114.5149),
        ("Tangshan", 39.6305, 118.1802),
        ("Baoding", 38.8739, 115.4646),
        ("Handan", 36.6256, 114.5391),
        ("Langfang", 39.5380, 116.6838),
    ],
}

CITIES: dict[str, list[City]] = {
    province: [City(name, province, lat, lon) for name, lat, lon in rows]
    for province, rows in _TABLE.items()
}


def province_cities(province: str) -> list[City]:
    """The cities of ``province``, capital first; KeyError names the known provinces."""
    try:
        return CITIES[province]
    except KeyError:
        known = ", ".join(sorted(CITIES))
        raise KeyError(f"unknown region {province!r} (known: {known})") from None
