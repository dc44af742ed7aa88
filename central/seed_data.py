"""Deterministic generation of realistic seed appeals for the Fuyang citizen-appeal platform.

This module is pure: it only depends on the standard library, the model's vocabularies
(``schemas.enums``) and the ``random.Random`` instance handed to it, so the same seed always yields the same appeals on every machine and
every Python version (all draws go through ``Random.random()``, whose algorithm is stable).

It provides:

* the reference data of the platform: :data:`COUNTIES` (the 8 counties/districts of Fuyang
  with their real townships and streets), :data:`CHANNELS`, :data:`APPEAL_TYPES` and
  :data:`CATEGORIES`;
* :func:`generate_appeals`, which yields register-action payloads (one ``dict`` per appeal)
  fast enough to seed 100,000 tickets in well under a second or two;
* :func:`villages_of`, deterministic plausible village names for a township;
* :func:`unit_name_for_township`, the name of the township's government unit.
"""

from __future__ import annotations

import functools
import random
import string
import zlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from schemas.enums import CATEGORIES as MODEL_CATEGORIES
from schemas.enums import AppealType, Channel, Complexity

__all__ = [
    "APPEAL_FIELDS",
    "APPEAL_TYPES",
    "CATEGORIES",
    "CHANNELS",
    "COMPLEXITIES",
    "COUNTIES",
    "TEMPLATES",
    "AppealTemplate",
    "generate_appeals",
    "unit_name_for_township",
    "villages_of",
]

# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------

#: The 8 counties/districts of Fuyang ("1+8+N": the 8 sub-platforms), each with its townships
#: and streets (乡镇/街道).
COUNTIES: dict[str, list[str]] = {
    "颍州区": [
        "鼓楼街道",
        "文峰街道",
        "清河街道",
        "颍西街道",
        "西湖镇",
        "三合镇",
        "程集镇",
        "王店镇",
        "九龙镇",
        "袁集镇",
        "三十里铺镇",
        "马寨乡",
    ],
    "颍东区": [
        "向阳街道",
        "河东街道",
        "新华街道",
        "插花镇",
        "袁寨镇",
        "枣庄镇",
        "口孜镇",
        "正午镇",
        "新乌江镇",
        "杨楼孜镇",
        "老庙镇",
        "冉庙乡",
    ],
    "颍泉区": [
        "中市街道",
        "周棚街道",
        "泉北街道",
        "泉颖街道",
        "伍明镇",
        "行流镇",
        "宁老庄镇",
        "闻集镇",
        "苏屯乡",
    ],
    "临泉县": [
        "城关街道",
        "田桥街道",
        "邢塘街道",
        "杨桥镇",
        "鲖城镇",
        "谭棚镇",
        "老集镇",
        "滑集镇",
        "吕寨镇",
        "单桥镇",
        "长官镇",
        "宋集镇",
        "张新镇",
        "艾亭镇",
        "姜寨镇",
        "庙岔镇",
        "黄岭镇",
        "白庙镇",
        "高塘镇",
        "瓦店镇",
        "迎仙镇",
        "韦寨镇",
        "关庙镇",
        "杨小街镇",
        "土坡乡",
        "陶老乡",
        "庞营乡",
        "牛庄乡",
    ],
    "太和县": [
        "城关镇",
        "旧县镇",
        "税镇镇",
        "皮条孙镇",
        "原墙镇",
        "倪邱镇",
        "李兴镇",
        "大新镇",
        "肖口镇",
        "关集镇",
        "三塔镇",
        "双浮镇",
        "蔡庙镇",
        "三堂镇",
        "苗老集镇",
        "宫集镇",
        "坟台镇",
        "洪山镇",
        "高庙镇",
        "清浅镇",
        "阮桥镇",
        "胡总镇",
        "五星镇",
        "赵集乡",
        "马集乡",
    ],
    "阜南县": [
        "鹿城镇",
        "会龙镇",
        "王家坝镇",
        "王化镇",
        "苗集镇",
        "黄岗镇",
        "焦陂镇",
        "张寨镇",
        "王堰镇",
        "地城镇",
        "洪河桥镇",
        "中岗镇",
        "柴集镇",
        "新村镇",
        "朱寨镇",
        "方集镇",
        "赵集镇",
        "田集镇",
        "曹集镇",
        "郜台乡",
        "许堂乡",
        "段郢乡",
        "公桥乡",
        "龙王乡",
        "于集乡",
        "老观乡",
    ],
    "颍上县": [
        "慎城镇",
        "谢桥镇",
        "南照镇",
        "杨湖镇",
        "江口镇",
        "润河镇",
        "新集镇",
        "六十铺镇",
        "耿棚镇",
        "半岗镇",
        "王岗镇",
        "夏桥镇",
        "红星镇",
        "黄桥镇",
        "八里河镇",
        "古城镇",
        "杨桥镇",
        "鲁口镇",
        "陈桥镇",
        "西三十铺镇",
        "十八里铺镇",
        "赛涧回族乡",
        "关屯乡",
        "垂岗乡",
        "建颍乡",
        "五十铺乡",
        "盛堂乡",
        "刘集乡",
    ],
    "界首市": [
        "东城街道",
        "西城街道",
        "颍南街道",
        "光武镇",
        "泉阳镇",
        "芦村镇",
        "新马集镇",
        "大黄镇",
        "田营镇",
        "陶庙镇",
        "王集镇",
        "砖集镇",
        "顾集镇",
        "代桥镇",
        "舒庄镇",
        "邴集乡",
        "靳寨乡",
        "任寨乡",
    ],
}

# The platform's vocabularies come from the workflow model, so seeded data can never drift
# from what the model accepts.
#: Intake channels of the platform, code -> Chinese label.
CHANNELS: dict[str, str] = {channel.value: channel.label for channel in Channel}
#: Appeal types, code -> Chinese label.
APPEAL_TYPES: dict[str, str] = {kind.value: kind.label for kind in AppealType}
#: Business categories used to classify appeals.
CATEGORIES: list[str] = list(MODEL_CATEGORIES)
#: Complexity levels (deadlines of 2, 5 and 15 working days respectively).
COMPLEXITIES: tuple[str, ...] = tuple(level.value for level in Complexity)

#: The exact keys of every dict yielded by :func:`generate_appeals`.
APPEAL_FIELDS: tuple[str, ...] = (
    "channel",
    "appeal_type",
    "category",
    "title",
    "description",
    "citizen_name",
    "citizen_phone",
    "needs_callback",
    "address",
    "county",
    "township",
    "village",
    "complexity",
)


# ---------------------------------------------------------------------------------------------
# Appeal templates
# ---------------------------------------------------------------------------------------------


class AppealTemplate(NamedTuple):
    """One kind of appeal: its usual type, a title template and a description template.

    Templates are ``str.format`` strings whose slots are filled per appeal. Available slots:
    ``county``, ``township``, ``village``, ``school`` (from the appeal's area); ``road``,
    ``road2``; names: ``shop`` (service shop), ``bbq``, ``market``, ``agri`` (farm supplies),
    ``express`` (parcel point), ``company``, ``developer``, ``builder``, ``farm``, ``community``
    (residential estate), ``training`` (tutoring school); numbers: ``days``, ``months``,
    ``years``, ``n``, ``people``, ``amount`` (yuan), ``fee``, ``mu``, ``hours``.
    """

    appeal_type: str
    title: str
    description: str


_T = AppealTemplate

#: Per category, the appeal templates used by :func:`generate_appeals`.
TEMPLATES: dict[str, list[AppealTemplate]] = {
    "房产物业": [
        _T(
            "complaint",
            "{community}物业不作为",
            "我是{township}{community}的业主，小区物业每年按时收物业费却什么事都不管，楼道灯坏了{days}天"
            "没人修，生活垃圾堆在单元门口没人清运，电梯也经常停运。业主多次找物业反映，物业总是推诿扯皮，"
            "希望住建部门督促物业公司履行服务职责。",
        ),
        _T(
            "help",
            "{community}顶楼房屋漏水无人维修",
            "{community}{n}号楼顶层住户反映，房屋一到下雨天就漏水，卧室墙面已经大面积发霉脱落。找开发商和"
            "物业协调了{days}天，双方都说不归自己管，维修基金也申请不下来。家里有老人和小孩，住着很不方便，"
            "请求帮助协调维修。",
        ),
        _T(
            "complaint",
            "开发商逾期不办不动产权证",
            "本人{years}年前在{township}购买了{developer}开发的{community}商品房，购房合同约定交房后两年内"
            "办理不动产权证，现在已经逾期很久，开发商一直以各种理由拖着不办，影响孩子上学和落户，"
            "小区几百户业主都是这种情况，希望相关部门督促尽快办理。",
        ),
        _T(
            "consult",
            "咨询公租房申请条件",
            "我家住在{township}{village}，家庭收入比较低，目前一家四口在城里租房住。想咨询一下{county}"
            "公共租赁住房的申请条件是什么、需要准备哪些材料、到哪个部门办理、从申请到分配大概需要多长时间，"
            "谢谢。",
        ),
        _T(
            "complaint",
            "{community}车位只售不租",
            "{community}地下车位开发商只卖不租，一个车位要价{amount}元，很多业主买不起，只能把车停在小区外面"
            "的路边，晚上经常被贴罚单，小区门口也因此经常堵车。希望有关部门依法规范车位的出租和出售。",
        ),
        _T(
            "complaint",
            "{community}电梯频繁故障",
            "{community}{n}号楼的电梯近{months}个月来频繁出故障，上周还把三位老人困在电梯里将近{hours}个小时。"
            "物业说维修需要业主另外出钱，业主认为物业费里已经包含电梯维护费用，双方争执不下，请求帮助解决。",
        ),
    ],
    "交通物流": [
        _T(
            "complaint",
            "{road}道路坑洼不平",
            "{village}通往{township}集镇的{road}路面坑洼不平，有的坑有半米多深，一下雨全是积水，看不清路面。"
            "最近已经有{people}个骑电动车的群众在这里摔倒受伤，学生上学也要走这条路，请求相关部门尽快修补路面。",
        ),
        _T(
            "suggestion",
            "建议{village}开通城乡公交",
            "{village}距离{township}集镇有十几里路，村里老人和学生出行只能靠步行或者电动三轮车，雨雪天特别"
            "不安全。建议交通部门沿{road}增设一条城乡公交线路，或者把现有线路延伸到村口，方便群众出行。",
        ),
        _T(
            "report",
            "超载货车夜间碾压道路",
            "最近{days}天每天晚上都有大量拉沙石的超载货车从{village}的{road}经过，刚修好两年的水泥路已经被压坏"
            "多处，夜间噪音很大，白天扬尘严重，路边房屋的墙都震裂了。请交通部门加强治理超限超载运输。",
        ),
        _T(
            "complaint",
            "快递网点不送件上门",
            "{township}{road}的{express}长期不送件上门，要求收件人自己到网点取件，还额外收取每件{fee}元"
            "的取件费，态度也很差。多次向快递公司投诉都没有结果，希望邮政管理部门依法处理。",
        ),
        _T(
            "help",
            "{road}路口红绿灯故障",
            "{road}与{road2}交叉路口的红绿灯已经坏了{days}天，早晚上下班高峰车辆人流混行，乱成一团，附近"
            "{school}的学生放学经过这里非常危险，前天还发生了一起剐蹭事故，希望交警部门尽快维修。",
        ),
    ],
    "城市管理": [
        _T(
            "complaint",
            "{road}路灯不亮",
            "{village}{road}路段的路灯已经坏了{days}天，晚上出行很不安全，希望尽快维修。这段路晚上一片漆黑，"
            "附近老人孩子出门只能打手电，前几天还有人骑车摔进了路边沟里。已经跟村里反映过，一直没有人来修。",
        ),
        _T(
            "complaint",
            "烧烤店夜间噪音扰民",
            "{township}{road}上的{bbq}每天营业到凌晨两三点，顾客喝酒划拳、大声喧哗，油烟直接排向居民楼，"
            "噪音吵得周围住户整夜睡不着觉，家里孩子马上要中考了。多次沟通无果，请求城管部门依法处理。",
        ),
        _T(
            "complaint",
            "{village}垃圾长期无人清运",
            "{village}村口的垃圾池已经{days}天没人清运了，垃圾堆成了小山，天一热臭气熏天、蚊蝇乱飞，"
            "下雨后污水流到路上，附近住户苦不堪言。希望乡镇环卫部门尽快清运，并增加清运频次。",
        ),
        _T(
            "report",
            "{road}占道经营堵塞交通",
            "{township}{road}两侧商户长期占道经营，水果摊、早点摊一直摆到马路中间，早晚高峰车辆根本过不去，"
            "行人只能走机动车道，非常危险，地面也到处是垃圾和污水。希望城管部门加强管理，规范摊点经营。",
        ),
        _T(
            "praise",
            "表扬{township}环卫工人",
            "我想表扬{township}的环卫工人。前几天下暴雨，{road}积水很深，环卫工人冒雨疏通下水道、清理垃圾，"
            "一直忙到深夜，第二天一早路面就干干净净，让我们出行方便了很多，希望领导给予表扬。",
        ),
        _T(
            "complaint",
            "{road}违章搭建",
            "{road}{n}号附近有住户在公共绿地上私自搭建彩钢棚，面积有几十平方米，占用了消防通道，"
            "周边居民反映已经{months}个月了，城管来看过一次之后就没有下文，请求依法拆除违章建筑。",
        ),
    ],
    "劳动社保": [
        _T(
            "help",
            "拖欠农民工工资",
            "我和同村{people}名工友在{builder}承建的{community}项目上干活，{months}个月的工资共计{amount}元"
            "至今没有发放，包工头和老板互相推脱，家里老人看病、孩子上学都等着这笔钱，请求劳动监察部门帮忙讨薪。",
        ),
        _T(
            "consult",
            "咨询养老保险补缴",
            "我今年五十八岁，户籍在{township}{village}，以前在外地打工时断缴了几年职工养老保险，想咨询一下现在"
            "还能不能补缴、怎么补缴、补缴后每月大概能领多少钱、需要带什么材料到哪里办理。",
        ),
        _T(
            "complaint",
            "公司不签劳动合同不缴社保",
            "我在{township}的{company}上班已经{months}个月了，公司一直不跟员工签劳动合同，也不缴纳社保，"
            "每天加班到晚上九点以后也没有加班费，工资还经常拖欠。希望人社部门依法查处。",
        ),
        _T(
            "help",
            "工伤认定久拖不决",
            "我{months}个月前在{company}上班时被机器轧伤右手，住院花了{amount}元，公司只垫付了一部分，"
            "至今不配合申请工伤认定，说我是自己操作不当。现在手还不能干重活，家里没了收入，请求帮助维权。",
        ),
        _T(
            "complaint",
            "离职后工资被扣",
            "我从{company}离职已经{days}天，公司以各种名目扣我工资，最后一个月的工资{amount}元一分钱没发，"
            "找人事部门要，他们说要等老板签字，老板电话一直不接，请求劳动监察大队帮忙追回工资。",
        ),
    ],
    "农村农业": [
        _T(
            "help",
            "申请农村低保无答复",
            "我家住在{township}{village}，丈夫去年因病去世，我自己身体也不好，家里还有两个孩子在上学，"
            "生活非常困难。{months}个月前向村里递交了低保申请，村里说报上去了，至今没有任何答复，请求帮助。",
        ),
        _T(
            "complaint",
            "{village}周边秸秆焚烧",
            "最近几天{village}周边田里有人夜间偷偷焚烧秸秆，浓烟很大，呛得人喘不过气，{road}上能见度很低，"
            "非常容易出交通事故，村里的禁烧宣传形同虚设。请求镇里加强夜间巡查，并推广秸秆还田。",
        ),
        _T(
            "consult",
            "咨询耕地地力保护补贴",
            "我在{village}种了{mu}亩小麦，听说今年耕地地力保护补贴已经发放了，但我的惠民惠农一卡通里一直没有"
            "收到钱。想咨询一下补贴什么时候发放、每亩标准是多少、没收到应该找村里还是镇财政所。",
        ),
        _T(
            "complaint",
            "土地流转租金未兑现",
            "{village}有{people}户村民的承包地流转给了{farm}，合同约定每年每亩租金800元，"
            "但已经拖欠{months}个月没有支付，村民找公司要钱找不到负责人，找村委会也说没办法，请求镇里协调。",
        ),
        _T(
            "help",
            "{village}灌溉沟渠堵塞",
            "{village}东边的灌溉沟渠多年没有清淤，现在已经基本堵死，天旱时抽不上水，下雨又排不出去，"
            "去年有{mu}亩麦子因为渍水减产。请求水利部门安排清淤疏浚，保障今年的农田灌溉。",
        ),
        _T(
            "report",
            "举报低保评定优亲厚友",
            "举报{township}{village}在低保评定中优亲厚友，村干部的亲戚家里有楼房有轿车却吃着低保，"
            "而真正困难的五保老人却评不上。村民意见很大，请求上级部门调查核实。",
        ),
    ],
    "生态环境": [
        _T(
            "report",
            "企业夜间偷排污水",
            "{township}{road}附近的{company}每天夜里偷偷往{village}旁边的沟渠里排放污水，水发黑发臭，"
            "沟里的鱼都死了，附近庄稼也受到影响，村民都不敢用井水了。请环保部门夜间突击检查。",
        ),
        _T(
            "complaint",
            "养殖场臭味扰民",
            "{village}附近新建了一个养猪场，距离村庄不到三百米，粪污直接排到田里，臭味熏天，"
            "夏天根本不敢开窗，蚊蝇特别多。村民已经反映了{months}个月，问题一直没有解决，请求依法整治。",
        ),
        _T(
            "complaint",
            "工地扬尘污染严重",
            "{road}上的{community}建设工地没有覆盖防尘网，也不洒水降尘，渣土车进出不冲洗，"
            "整条路灰尘漫天，沿街商户和居民家里每天都是一层灰，老人孩子咳嗽不止，请求生态环境部门查处。",
        ),
        _T(
            "complaint",
            "工厂噪音扰民",
            "{village}附近的{company}机器日夜不停运转，噪音很大，晚上十一点以后还在生产，"
            "周边村民长期睡不好觉，已经持续{days}天了。请求环保部门上门检测噪音，督促企业整改。",
        ),
        _T(
            "report",
            "河道非法采砂",
            "最近{days}天每天夜里都有采砂船在{township}{village}附近的河道非法采砂，机器轰鸣，"
            "河堤已经被挖得坑坑洼洼，汛期存在很大安全隐患。请求水利和公安部门联合打击。",
        ),
    ],
    "教育": [
        _T(
            "complaint",
            "校外培训机构收费后跑路",
            "{township}的{training}一次性收取学生{amount}元培训费，承诺的课时还没上完就关门了，老板联系不上，"
            "几十名家长要求退费无门。请求教育和市场监管部门介入，帮助家长追回剩余费用。",
        ),
        _T(
            "consult",
            "咨询小学入学划片",
            "我家孩子今年满六周岁，户口在{township}{village}，目前在{road}附近租房居住。想咨询一下孩子上小学"
            "是按户籍还是按居住地划片，需要准备哪些材料，网上报名什么时候开始。",
        ),
        _T(
            "complaint",
            "学校食堂饭菜质量差",
            "{school}食堂的饭菜质量很差，分量少、价格高，孩子们经常吃不饱，有学生说在菜里吃出过虫子。"
            "家长多次向学校反映没有改善，希望教育部门检查学校食堂，保障学生饮食安全。",
        ),
        _T(
            "help",
            "孩子上学路途远无校车",
            "{village}的学校撤并后，孩子们只能到{school}上学，每天要走{n}里路，冬天天不亮就要出门，"
            "路上还要经过{road}，非常不安全。希望教育部门考虑开通校车或者安排寄宿。",
        ),
        _T(
            "suggestion",
            "建议{school}门口设置减速带",
            "{school}门口的{road}车流量很大，车速很快，上学放学时段学生横穿马路非常危险。"
            "建议在学校门口设置减速带、人行横道和警示标志，上下学高峰安排交警或志愿者值守。",
        ),
    ],
    "卫生健康": [
        _T(
            "complaint",
            "{township}卫生院服务态度差",
            "我{days}天前带家里老人到{township}卫生院看病，挂号排队一个多小时，医生态度冷漠，"
            "问病情也不耐烦，开的药比在县医院还贵。希望卫健部门加强对基层医疗机构的管理。",
        ),
        _T(
            "consult",
            "咨询城乡居民医保报销",
            "我是{township}{village}的村民，参加了城乡居民医保，今年在省城医院住院花了{amount}元，"
            "想咨询一下异地就医怎么备案、能报销多少比例、出院后回来需要带哪些材料到哪里报销。",
        ),
        _T(
            "report",
            "诊所无证行医",
            "{township}{road}上有一家没有挂牌的小诊所，坐诊的人没有医师资格，还给病人打吊针，"
            "前段时间有村民打针后出现过敏反应，差点出了人命。请求卫生监督部门依法查处。",
        ),
        _T(
            "help",
            "申请大病医疗救助",
            "我家住在{township}{village}，孩子今年查出白血病，已经花了{amount}元，医保报销后自付部分还是很高，"
            "家里借遍了亲戚。想申请大病医疗救助，不知道该找哪个部门，请求帮助。",
        ),
        _T(
            "praise",
            "表扬{township}卫生院医护人员",
            "我父亲前几天夜里突发心梗，{township}卫生院的医生护士接到电话后{n}分钟就赶到家里，一边抢救一边"
            "联系县医院转诊，为救治争取了时间。全家非常感激，希望对他们给予表扬。",
        ),
    ],
    "市场监管": [
        _T(
            "complaint",
            "超市销售过期食品",
            "我在{township}{road}的{market}买的牛奶，回家后发现已经过期{days}天了。找超市要求按规定赔偿，"
            "超市只同意退货不同意赔偿，还说是我自己放过期的。希望市场监管部门依法处理。",
        ),
        _T(
            "complaint",
            "加油站计量不准",
            "我在{road}边上的加油站加油，油箱容量只有五十升，却加进去了五十八升，怀疑加油机计量作弊，"
            "和加油站交涉，对方不承认。请求市场监管部门对加油机进行检定。",
        ),
        _T(
            "report",
            "无证黑作坊生产食品",
            "{village}有一家没有任何证照的食品黑作坊，专门生产辣条和糕点，卫生条件极差，"
            "苍蝇乱飞，产品批发给附近学校周边的小卖部，严重威胁孩子们的健康，请求查处。",
        ),
        _T(
            "complaint",
            "预付卡商家关门跑路",
            "{township}{road}的{shop}上个月还在推销会员卡，我充值了{amount}元，结果没几天就关门了，"
            "老板电话打不通，充值的几十名顾客都联系不上老板，希望有关部门帮忙追回预付款。",
        ),
        _T(
            "complaint",
            "农资店销售假种子",
            "我在{township}的{agri}买的玉米种子，种了{mu}亩，出苗率不到三成，怀疑是假种子。"
            "找店主理论，店主不认账。请求农业执法和市场监管部门鉴定处理，挽回损失。",
        ),
    ],
    "水电气暖": [
        _T(
            "complaint",
            "{village}自来水停水",
            "{village}从{days}天前开始停水，水厂事先没有任何通知，村民做饭洗衣都成了问题，家里老人只能去邻村挑水。"
            "打电话问水厂，也说不清什么时候恢复供水，希望尽快解决停水问题。",
        ),
        _T(
            "complaint",
            "{village}频繁停电",
            "{village}最近一个月频繁停电，有时候一天停好几次，每次一两个小时，家里冰箱里的东西都放坏了，"
            "养殖户的增氧机也停了，死了不少鱼。供电所说是线路老化，但一直没有改造，请求尽快解决。",
        ),
        _T(
            "complaint",
            "自来水水质浑浊",
            "{community}这段时间自来水发黄浑浊，有一股怪味，放一会儿桶底就有沉淀，居民不敢直接饮用。"
            "已经持续{days}天，找物业和水务公司都没有明确答复，请求检测水质并说明原因。",
        ),
        _T(
            "consult",
            "咨询天然气开户",
            "我在{township}{community}买了新房，想咨询一下天然气开户需要什么材料、到哪里办理、"
            "开户费和安装费是多少，另外听说有的小区收取的初装费很高，这个是否合理。",
        ),
        _T(
            "help",
            "{village}电线老化存在隐患",
            "{village}{group}组的电线杆已经倾斜，电线老化裸露，离地面很低，离村民房子也很近，刮风下雨时还会打火花，"
            "小孩子经常在下面玩，非常危险。请求供电部门尽快更换线路。",
        ),
    ],
    "公共安全": [
        _T(
            "report",
            "{community}电动车楼道充电",
            "{community}{n}号楼有住户长期把电动车推进楼道里充电，电线从楼上窗户拉下来，楼道里还堆满了杂物，"
            "存在很大的火灾隐患。跟物业说了几次都不管，请求消防部门检查处理。",
        ),
        _T(
            "report",
            "举报聚众赌博",
            "{township}{village}有人在自家院子里开设赌场，每天晚上都有几十人聚集赌博，"
            "来往车辆很多，不少村民因赌博欠下外债，家庭矛盾不断，请求公安机关依法打击。",
        ),
        _T(
            "help",
            "{village}河塘缺少防护栏",
            "{village}旁边的河塘水很深，但是没有防护栏也没有警示牌，夏天经常有小孩去玩水，"
            "前几年就发生过溺水事故。请求相关部门尽快安装防护栏和警示牌，消除安全隐患。",
        ),
        _T(
            "help",
            "遭遇电信诈骗求助",
            "我母亲{days}天前接到一个自称是公检法的电话，说她的银行卡涉嫌洗钱，让她把钱转到安全账户，"
            "前后转走了{amount}元。已经到{township}派出所报案，想了解案件进展，请求帮助追回损失。",
        ),
        _T(
            "complaint",
            "流浪犬伤人",
            "{road}一带最近有一群流浪狗，经常追咬行人，已经有{people}个小孩被咬伤去打了狂犬疫苗，"
            "家长们不敢让孩子单独出门。请求有关部门尽快收容处置流浪犬。",
        ),
    ],
    "其他": [
        _T(
            "suggestion",
            "建议{township}增设便民服务点",
            "{township}政务服务中心离{village}比较远，村民办理社保、医保、户籍等业务要跑很多路，"
            "建议在村里设立便民服务代办点，或者开通更多的网上办理渠道，让群众少跑腿。",
        ),
        _T(
            "consult",
            "咨询身份证异地办理",
            "我是{county}{township}人，现在在外地打工，身份证快到期了，想咨询一下能不能在打工的城市"
            "异地换领身份证，需要准备哪些材料，大概多长时间能拿到新证。",
        ),
        _T(
            "praise",
            "表扬{township}工作人员",
            "我想表扬{township}便民服务中心的工作人员。我母亲行动不便，工作人员得知后主动上门帮她办理了"
            "养老资格认证，还耐心讲解了政策，服务非常周到，希望给予表扬。",
        ),
        _T(
            "help",
            "户口迁移遇到困难",
            "我{years}年前从{township}{village}外出务工，户口一直没有迁走，现在想把户口迁到工作的城市，"
            "但原来的户籍信息有错误，名字里的字和身份证不一致，跑了几次都办不了，请求帮助解决。",
        ),
        _T(
            "consult",
            "咨询退役军人优待政策",
            "我是{township}{village}的退役军人，退役已经{years}年了，想咨询一下现在有哪些优待政策，"
            "比如医疗、就业、子女入学方面，需要到哪个部门登记办理。",
        ),
    ],
}
del _T

# ---------------------------------------------------------------------------------------------
# Name pools (precomputed once, indexed by rng draws)
# ---------------------------------------------------------------------------------------------

# Surnames, with the most common ones repeated to weight them (王/李/张/刘 dominate in Anhui).
_SURNAMES: tuple[str, ...] = tuple(
    "王王王王王李李李李张张张张刘刘刘刘陈陈陈杨杨杨赵赵黄黄周周吴吴孙孙马马朱朱胡胡郭何高"
    "林罗郑梁谢宋唐许韩冯邓曹彭肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石"
    "贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯史陶贺顾毛郝龚邵万钱严武戴孔汤葛鲍鲁倪牛"
)

_GIVEN_CHARS: tuple[str, ...] = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国文志海波辉鹏飞燕萍宇浩"
    "俊峰亮成东凤云春雪荣琴晓林琳洁淑珍德福永生宝金山新民光利中胜长庆发祥忠兵家振小子"
)

_VILLAGE_SUFFIXES: tuple[str, ...] = (
    "庄",
    "庄",
    "庄",
    "集",
    "集",
    "营",
    "楼",
    "楼",
    "寨",
    "湖",
    "岗",
    "郢",
    "圩",
    "桥",
    "店",
    "庙",
    "台",
    "洼",
)
_VILLAGE_PREFIXES: tuple[str, ...] = ("东", "西", "南", "北", "前", "后", "大", "小", "老", "新")

_ROADS: tuple[str, ...] = (
    "人民路",
    "颍州路",
    "淮河路",
    "颍河路",
    "清河路",
    "文峰路",
    "三清路",
    "中南大道",
    "北京路",
    "合肥路",
    "南京路",
    "太和路",
    "界首路",
    "双清路",
    "莲池路",
    "工业路",
    "建设路",
    "解放路",
    "和平路",
    "健康路",
    "府前路",
    "环城路",
    "站前路",
    "兴业路",
    "民生路",
    "幸福路",
    "振兴路",
    "村村通水泥路",
    "村东头的水泥路",
    "通村公路",
    "乡道",
    "县道",
    "集镇主街",
    "老街",
)

_COMMUNITIES: tuple[str, ...] = (
    "颍河丽景小区",
    "清河花园",
    "锦绣华城",
    "书香门第小区",
    "幸福家园",
    "东方明珠小区",
    "阳光水岸",
    "金色港湾",
    "世纪花园",
    "和谐家园",
    "翰林苑",
    "滨河名苑",
    "文峰嘉园",
    "盛世华庭",
    "龙湖新村",
    "康居小区",
    "安置小区",
    "城南新区",
    "御景湾",
    "天润城",
    "香榭丽都",
    "紫薇花园",
    "丰泽园",
    "碧水蓝天小区",
)


def _shops(suffixes: tuple[str, ...], extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Shop names: every distinct surname with every suffix (e.g. 王记烧烤店), plus ``extra``."""
    return tuple(dict.fromkeys(s + x for s in _SURNAMES for x in suffixes)) + extra


# Shops by kind, so that a template about a barbecue names a barbecue, not a seed shop.
_SHOPS: tuple[str, ...] = _shops(
    ("氏美容美发店", "家母婴店", "记洗车店", "记健身房", "家游泳馆", "氏养生馆"),
    ("动感健身会所", "丽人美容院"),
)
_BBQS: tuple[str, ...] = _shops(
    ("记烧烤店", "家大排档", "记夜宵摊", "记小龙虾店"), ("老地方烧烤", "夜来香大排档")
)
_MARKETS: tuple[str, ...] = _shops(
    ("氏超市", "记便利店", "家小卖部"), ("好又多超市", "惠民生活超市", "乐家便利店")
)
_AGRIS: tuple[str, ...] = _shops(
    ("家农资店", "记种子门市部", "记农资经营部"), ("兴旺农资店", "丰收种业门市部")
)
_EXPRESSES: tuple[str, ...] = _shops(("记快递代收点", "家快递驿站"), ("镇快递服务站",))

_COMPANY_PREFIXES: tuple[str, ...] = (
    "阜阳市恒达",
    "安徽鑫源",
    "颍州宏远",
    "皖北金辉",
    "阜阳顺发",
    "安徽颍淮",
    "阜阳天成",
    "安徽振华",
    "阜阳永盛",
    "安徽昌隆",
    "阜阳利民",
    "安徽瑞丰",
)
_COMPANY_KINDS: tuple[str, ...] = (
    "建筑工程有限公司",
    "化工有限公司",
    "食品有限公司",
    "纺织有限公司",
    "木业有限公司",
    "塑业有限公司",
    "物流有限公司",
    "农业科技有限公司",
    "建材有限公司",
    "置业有限公司",
    "电子有限公司",
    "再生资源有限公司",
)
_COMPANIES: tuple[str, ...] = tuple(p + k for p in _COMPANY_PREFIXES for k in _COMPANY_KINDS)
_DEVELOPERS: tuple[str, ...] = tuple(
    p + k for p in _COMPANY_PREFIXES for k in ("置业有限公司", "房地产开发有限公司")
)
_BUILDERS: tuple[str, ...] = tuple(
    p + k for p in _COMPANY_PREFIXES for k in ("建筑工程有限公司", "建设集团有限公司")
)
_FARMS: tuple[str, ...] = tuple(
    p + k for p in _COMPANY_PREFIXES for k in ("农业科技有限公司", "生态农业有限公司")
) + tuple(dict.fromkeys(s + k for s in _SURNAMES for k in ("氏家庭农场", "记种植专业合作社")))

_SCHOOL_KINDS: tuple[str, ...] = ("中心小学", "中心小学", "初级中学", "中心幼儿园", "中学")

_TRAININGS: tuple[str, ...] = (
    "状元教育培训中心",
    "启航教育",
    "博学辅导班",
    "新起点培训学校",
    "英才课外辅导中心",
    "明德书法美术培训班",
    "金话筒口才培训",
    "优学堂",
)

_GROUP_NUMERALS: tuple[str, ...] = (
    "一",
    "二",
    "三",
    "四",
    "五",
    "六",
    "七",
    "八",
    "九",
    "十",
    "十一",
    "十二",
    "十三",
    "十四",
    "十五",
)

_PHONE_PREFIXES: tuple[str, ...] = tuple(
    [f"13{d}" for d in range(10)]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159"]
    + ["170", "173", "175", "176", "177", "178"]
    + [f"18{d}" for d in range(10)]
    + ["191", "198", "199"]
)


def _weighted(pairs: list[tuple[Any, int]]) -> tuple[Any, ...]:
    """Expand ``(value, weight)`` pairs into a lookup table indexed by a uniform draw."""
    return tuple(v for v, w in pairs for _ in range(w))


# Channel mix of the platform: the 12345 hotline carries most of the load.
_CHANNEL_TABLE: tuple[str, ...] = _weighted(
    [
        ("hotline_12345", 55),
        ("wechat", 20),
        ("leader_board", 8),
        ("mayor_mailbox", 7),
        ("media", 5),
        ("opinion", 5),
    ]
)

# Category mix: housing and city management dominate, "other" is rare.
_CATEGORY_TABLE: tuple[str, ...] = _weighted(
    [
        ("房产物业", 14),
        ("交通物流", 9),
        ("城市管理", 14),
        ("劳动社保", 10),
        ("农村农业", 10),
        ("生态环境", 9),
        ("教育", 7),
        ("卫生健康", 6),
        ("市场监管", 7),
        ("水电气暖", 8),
        ("公共安全", 4),
        ("其他", 2),
    ]
)

_FORMATTER = string.Formatter()


def _slots_of(template: str) -> frozenset[str]:
    """Names of the ``{slot}`` fields used in a format string."""
    return frozenset(name for _, name, _, _ in _FORMATTER.parse(template) if name)


# Slots drawn independently per appeal (see the fillers in ``_generate``).
_DRAWN_SLOTS = frozenset(
    ("road", "road2", "shop", "bbq", "market", "agri", "express", "company", "developer", "builder", "farm")
    + ("community", "training", "days", "months", "years")
    + ("n", "people", "amount", "fee", "mu", "hours", "group")
)

# Slots filled from the appeal's own area rather than drawn independently.
_AREA_SLOTS = frozenset(("county", "township", "village", "school"))


def _compile(t: AppealTemplate) -> tuple[str, str, str, bool, tuple[str, ...]]:
    """Precompute a template: its texts, whether it names a school, and its drawn slots.

    The drawn slots are sorted so that the order of rng draws never depends on set iteration
    order (which varies with ``PYTHONHASHSEED``).
    """
    slots = _slots_of(t.title) | _slots_of(t.description)
    unknown = slots - _AREA_SLOTS - _DRAWN_SLOTS
    if unknown:
        raise ValueError(f"template {t.title!r} uses unknown slots {sorted(unknown)}")
    return t.appeal_type, t.title, t.description, "school" in slots, tuple(sorted(slots - _AREA_SLOTS))


# Per category: the compiled templates.
_COMPILED: dict[str, tuple[tuple[str, str, str, bool, tuple[str, ...]], ...]] = {
    cat: tuple(_compile(t) for t in ts) for cat, ts in TEMPLATES.items()
}


# ---------------------------------------------------------------------------------------------
# Villages and units
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _villages(township: str, count: int) -> tuple[str, ...]:
    rng = random.Random(zlib.crc32(township.encode("utf-8")))
    r = rng.random
    seen: dict[str, None] = {}
    n_sur, n_suf, n_pre = len(_SURNAMES), len(_VILLAGE_SUFFIXES), len(_VILLAGE_PREFIXES)
    while len(seen) < count:
        name = _SURNAMES[int(r() * n_sur)] + _VILLAGE_SUFFIXES[int(r() * n_suf)]
        if r() < 0.2:
            name = _VILLAGE_PREFIXES[int(r() * n_pre)] + name
        seen.setdefault(name + "村", None)
    return tuple(seen)


def villages_of(township: str, count: int = 12) -> list[str]:
    """Return ``count`` distinct, plausible village names for ``township``.

    The names (surname + 庄/集/营/楼/寨/湖/岗/... + 村, sometimes with a 东/西/前/后... prefix)
    are derived from a stable CRC-32 of the township name, so they are the same in every
    process and on every machine. A shorter list is a prefix of a longer one.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return list(_villages(township, count))


def unit_name_for_township(county: str, township: str) -> str:
    """Name of the government unit of a township, e.g. ``颍上县谢桥镇人民政府``.

    Streets (街道) are run by a sub-district office: ``颍州区鼓楼街道办事处``.
    """
    if township.endswith("街道"):
        return f"{county}{township}办事处"
    return f"{county}{township}人民政府"


# ---------------------------------------------------------------------------------------------
# Appeal generation
# ---------------------------------------------------------------------------------------------


def _resolve_areas(county: str | None, township: str | None) -> list[tuple[str, str]]:
    """The ``(county, township)`` pairs matching the filters; raises ``ValueError`` if none."""
    if county is not None and county not in COUNTIES:
        raise ValueError(f"unknown county {county!r}; expected one of {list(COUNTIES)}")
    areas = [
        (c, t)
        for c, towns in COUNTIES.items()
        if county is None or c == county
        for t in towns
        if township is None or t == township
    ]
    if not areas:
        where = f" in {county}" if county else ""
        raise ValueError(f"unknown township {township!r}{where}")
    return areas


def generate_appeals(
    rng: random.Random,
    n: int,
    *,
    county: str | None = None,
    township: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` realistic appeals, each the payload of the register action.

    Every dict has exactly the keys of :data:`APPEAL_FIELDS`. The output depends only on the
    state of ``rng`` (same seed, same appeals). ``county`` and/or ``township`` restrict the
    area of the appeals; an unknown county or township raises ``ValueError`` immediately.
    A township name shared by two counties (e.g. 杨桥镇) without a county covers both.

    Distribution: channels weighted towards the 12345 hotline; ``needs_callback`` ~15% True;
    complexity ~15% urgent, ~70% general, ~15% complex.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    areas = _resolve_areas(county, township)
    # Precompute, per area, everything that does not depend on the draw.
    area_table = [
        (c, t, _villages(t, 12), (t[:-1] if t.endswith(("镇", "乡")) else t[:-2])) for c, t in areas
    ]
    return _generate(rng, n, area_table)


def _group(values: dict[str, Any], drawn: str) -> str:
    """The address's 村民小组: the one the description names, if it names one. ``drawn`` is
    drawn either way, so every appeal after this one stays the same for a given seed."""
    return values.get("group") or drawn


def _generate(
    rng: random.Random, n: int, area_table: list[tuple[str, str, tuple[str, ...], str]]
) -> Iterator[dict[str, Any]]:
    r = rng.random
    n_area = len(area_table)
    channels, n_ch = _CHANNEL_TABLE, len(_CHANNEL_TABLE)
    categories, n_cat = _CATEGORY_TABLE, len(_CATEGORY_TABLE)
    compiled = _COMPILED
    surnames, n_sur = _SURNAMES, len(_SURNAMES)
    given, n_giv = _GIVEN_CHARS, len(_GIVEN_CHARS)
    phones, n_ph = _PHONE_PREFIXES, len(_PHONE_PREFIXES)
    groups, n_grp = _GROUP_NUMERALS, len(_GROUP_NUMERALS)
    roads, n_road = _ROADS, len(_ROADS)

    def pick(seq: tuple[str, ...]) -> str:
        return seq[int(r() * len(seq))]

    # Slot fillers, only called for the slots a template actually uses.
    fillers: dict[str, Callable[[], Any]] = {
        "road": lambda: roads[int(r() * n_road)],
        "road2": lambda: roads[int(r() * n_road)],
        "shop": lambda: pick(_SHOPS),
        "bbq": lambda: pick(_BBQS),
        "market": lambda: pick(_MARKETS),
        "agri": lambda: pick(_AGRIS),
        "express": lambda: pick(_EXPRESSES),
        "company": lambda: pick(_COMPANIES),
        "developer": lambda: pick(_DEVELOPERS),
        "builder": lambda: pick(_BUILDERS),
        "farm": lambda: pick(_FARMS),
        "community": lambda: pick(_COMMUNITIES),
        "training": lambda: pick(_TRAININGS),
        "days": lambda: 2 + int(r() * 29),
        "months": lambda: 2 + int(r() * 9),
        "years": lambda: 2 + int(r() * 9),
        "n": lambda: 1 + int(r() * 20),
        "people": lambda: 2 + int(r() * 30),
        "amount": lambda: (20 + int(r() * 480)) * 100,
        "fee": lambda: 1 + int(r() * 5),
        "mu": lambda: 3 + int(r() * 40),
        "hours": lambda: 1 + int(r() * 3),
        "group": lambda: groups[int(r() * n_grp)],  # 村民小组: the address names the same one
    }

    for _ in range(n):
        c, t, villages, short = area_table[int(r() * n_area)]
        village = villages[int(r() * len(villages))]
        category = categories[int(r() * n_cat)]
        options = compiled[category]
        appeal_type, title_tpl, desc_tpl, has_school, drawn = options[int(r() * len(options))]
        values: dict[str, Any] = {"county": c, "township": t, "village": village}
        if has_school:
            values["school"] = short + pick(_SCHOOL_KINDS)
        for slot in drawn:
            values[slot] = fillers[slot]()
        if "road2" in values and values["road2"] == values["road"]:
            values["road2"] = "颍河路" if values["road"] != "颍河路" else "人民路"
        x = r()
        surname = surnames[int(r() * n_sur)]
        if x < 0.25:
            name = surname + given[int(r() * n_giv)]
        else:
            name = surname + given[int(r() * n_giv)] + given[int(r() * n_giv)]
        y = r()
        yield {
            "channel": channels[int(r() * n_ch)],
            "appeal_type": appeal_type,
            "category": category,
            "title": title_tpl.format_map(values),
            "description": desc_tpl.format_map(values),
            "citizen_name": name,
            "citizen_phone": f"{phones[int(r() * n_ph)]}{int(r() * 100_000_000):08d}",
            "needs_callback": r() < 0.15,
            "address": f"{c}{t}{village}{_group(values, groups[int(r() * n_grp)])}组",
            "county": c,
            "township": t,
            "village": village,
            "complexity": "urgent" if y < 0.15 else ("complex" if y >= 0.85 else "general"),
        }
