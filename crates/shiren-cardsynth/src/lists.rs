//! The word lists card contents are drawn from: surnames, given-name characters, the 56
//! officially recognised ethnic groups, street and village name parts, and a fallback list of
//! bank identification numbers.
//!
//! Rare characters are included on purpose (喆, 堃, 燚, 亓, 禚 …): they are where an OCR
//! dictionary or a font is most likely to fail, so the tests should meet them regularly.

/// Single-character surnames: the common ones and some rare ones.
pub(crate) const SURNAMES: &str = concat!(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁",
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴",
    "莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪",
    "梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简",
    "车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄",
    "丛仲虞敖巩明佘池查麻苑迟邝",
    // Rare.
    "鞠亓仉禚逄厍笪郗隗昝璩蒯晁帅",
);

/// Two-character surnames.
pub(crate) const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "令狐", "宇文", "司徒", "夏侯",
    "端木", "独孤", "南宫", "闻人", "轩辕", "澹台",
];

/// Characters given names are made of.
pub(crate) const GIVEN_NAME_CHARS: &str = concat!(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉林鹏飞宇浩凯健俊帆帅旭宁龙波斌鑫晨",
    "辰士志成康星光天达安岩中茂进峰诚先敬震振壮会思群豪心邦承乐绍功松善厚庆民友裕河哲江亮政谦亨奇固之",
    "翰朗伯宏言若鸣朋梁栋维启克伦翔泽以家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘慧巧美淑惠珠翠雅芝娥玲",
    "芬燕彩春菊凤洁梅琳素云莲真环雪荣爱妹香月莺媛瑞凡佳嘉琼勤珍贞莉娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷",
    "姣婉娴瑾颖露瑶怡婵雁蓓仪荷丹蓉眉君琴蕊薇菁梦岚婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希欣飘育",
    "滢馥筠柔竹凝晓欢霄枫芸菲寒伊亚宜可舒影荔妮宝贝初程梵罡恒鸿桦骅剑娇纪宽灵琪晴容睿烁堂唯威雯苇萱",
    "彦雨忠宗曼紫逸贤蝶菡绿儿烟轩国庭立新永海利喜福贵祥",
    // Rare.
    "玥喆堃昇燚淼犇赟珺翀垚焱骉祎晟昊旻昕彧煜珏瑄璟琇芃铖铠曦",
);

/// The 56 ethnic groups as printed on ID cards (without 族). 汉 comes first.
pub(crate) const ETHNICITIES: [&str; 56] = shiren_idcard::ETHNIC_GROUPS;

/// The first part of road names.
pub(crate) const ROADS: &[&str] = &[
    "幸福", "人民", "解放", "建设", "中山", "和平", "新华", "胜利", "友谊", "光明", "文化", "东风", "长江", "黄河",
    "朝阳", "迎宾", "学府", "青年", "振兴", "团结", "民主", "复兴", "建国", "红旗", "延安", "健康", "花园", "滨江",
    "体育", "工农", "公园", "府前", "金桥", "湖滨", "龙华", "春风", "桂花", "梧桐", "银杏", "育才", "新民", "永安",
    "北环", "南环", "东环", "西环", "站前", "商业", "兴华", "前进",
];

/// Road kinds.
pub(crate) const ROAD_KINDS: &[&str] = &["路", "街", "大街", "大道", "巷", "东路", "西路", "南路", "北路", "中路"];

/// Towns and townships (with their 镇/乡/街道 suffix).
pub(crate) const TOWNS: &[&str] = &[
    "城关镇",
    "新城镇",
    "东关镇",
    "太平镇",
    "永安镇",
    "龙泉镇",
    "白沙镇",
    "青山镇",
    "石门镇",
    "长乐镇",
    "大河乡",
    "三合乡",
    "红岩乡",
    "东城街道",
    "西湖街道",
    "南街街道",
    "新华街道",
    "桥头镇",
];

/// Village names (without 村).
pub(crate) const VILLAGES: &[&str] = &[
    "张庄", "李家", "王家", "石桥", "大坪", "新庄", "柳树", "杨柳", "河口", "上河", "高家", "红星", "东升", "双河",
    "马坊", "沙窝", "后屯", "枣林", "前营", "刘湾",
];

/// Residential estates (with their suffix).
pub(crate) const ESTATES: &[&str] = &[
    "阳光小区",
    "幸福家园",
    "锦绣花园",
    "翠苑小区",
    "金色家园",
    "碧水新村",
    "明珠花园",
    "怡景苑",
    "丽都花园",
    "和谐小区",
];

/// Well-known bank identification numbers, used when the caller supplies none.
pub(crate) const FALLBACK_BINS: &[(&str, &str)] = &[
    ("622202", "中国工商银行"),
    ("621226", "中国工商银行"),
    ("621700", "中国建设银行"),
    ("622700", "中国建设银行"),
    ("622848", "中国农业银行"),
    ("621661", "中国银行"),
    ("622588", "招商银行"),
    ("622262", "交通银行"),
    ("621799", "中国邮政储蓄银行"),
    ("622908", "兴业银行"),
];
