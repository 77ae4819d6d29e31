package ids

// Province returns the province-level division (GB/T 2260) an enterprise's unified social
// credit code was issued in: characters 3 to 8 of the code are the registering authority's
// administrative division, whose first two digits are the province. The code is the
// province's two digits, the name its Chinese name; ok is false for a code too short or a
// division that is not a province's (for example 10, the central authorities).
func Province(uscc string) (code, name string, ok bool) {
	if len(uscc) < 4 {
		return "", "", false
	}
	code = uscc[2:4]
	name, ok = provinces[code]
	if !ok {
		return "", "", false
	}
	return code, name, true
}

// provinces are the province-level divisions by their GB/T 2260 code.
var provinces = map[string]string{
	"11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
	"21": "辽宁", "22": "吉林", "23": "黑龙江",
	"31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西", "37": "山东",
	"41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
	"50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
	"61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
	"71": "台湾", "81": "香港", "82": "澳门",
}
