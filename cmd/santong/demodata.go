package main

import (
	"fmt"

	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/event"
)

// The demo's dataset. Every enterprise, body, person and address here is invented: the names
// carry 示范 (demo), 虚构 (fictitious) or 示例 (example), the credit codes are made up (with
// check characters computed by internal/ids), and the GTINs use GS1 prefix 2, which is for
// restricted circulation and names no trade item.

// demoCertifier is a certification body of the demo.
type demoCertifier struct {
	slug, name, en, uscc17, accreditation string
}

// demoEnterprise is a producer of the demo.
type demoEnterprise struct {
	slug, name, en, uscc17, filing, address string
	phone, email, website                   string // public contact (optional)
	story                                   string // what happens to it in the demo, for the printout
	products                                []demoProduct
}

// demoProduct is a product; gtin12 is a GTIN-13 without its check digit ("" for none).
type demoProduct struct {
	name, en, category, gtin12 string
	standards                  []string
	lot                        string // the lot of its label batch, when it gets one
}

var demoCertifiers = []demoCertifier{
	{slug: "certifier-santong", name: "示范三同认证中心", en: "Demo Santong Certification Centre",
		uscc17: "12100000MB1DEMQ01", accreditation: "CNCA-R-DEMO-0001 (fictitious)"},
	{slug: "certifier-eco", name: "虚构生态原产地评定中心", en: "Fictitious Eco-Origin Evaluation Centre",
		uscc17: "12100000MB2ECQ002", accreditation: "ECO-DEMO-0002 (fictitious)"},
}

// demoRegulator is the demo's market regulator (市场监管).
var demoRegulator = demoCertifier{slug: "regulator", name: "示范市市场监督管理局", en: "Demo City Market Regulation Bureau",
	uscc17: "11100000MB3REG003"}

// The enterprises, in the order of the printout; their slugs name their key files.
var demoEnterprises = []demoEnterprise{
	{slug: "qinglan", name: "青岚示范茶业有限公司", en: "Qinglan Demo Tea Co., Ltd.",
		uscc17: "91330100MA2DEMT01", filing: "DEMO-3301-000101", address: "浙江省示范市青岚路 1 号 (1 Qinglan Road, Demo City, Zhejiang)",
		phone: "0571-8888 0101", email: "service@qinglan-tea.example", website: "https://qinglan-tea.example/",
		story: "三同 and eco-origin certified; good standing",
		products: []demoProduct{
			{name: "青岚示范 明前绿茶 250g", en: "Qinglan Demo pre-Qingming green tea 250 g", category: "agricultural",
				gtin12: "200000000101", standards: []string{"GB/T 14456.1-2017", "EU 2023/915 contaminants"}, lot: "QL-2026-031"},
			{name: "青岚示范 白茶饼 357g", en: "Qinglan Demo white tea cake 357 g", category: "agricultural",
				gtin12: "200000000102", standards: []string{"GB/T 22291-2017"}},
			{name: "青岚示范 红茶袋泡茶", en: "Qinglan Demo black tea bags", category: "food",
				standards: []string{"GB/T 13738.1-2017"}},
		}},
	{slug: "muxi", name: "木犀示范家纺有限公司", en: "Muxi Demo Home Textiles Co., Ltd.",
		uscc17: "91320500MA1DEMX02", filing: "DEMO-3205-000202", address: "江苏省示范市木犀街 8 号 (8 Muxi Street, Demo City, Jiangsu)",
		story: "failed a follow-up inspection, suspended, rectified, re-inspected and reinstated",
		products: []demoProduct{
			{name: "木犀示范 纯棉四件套", en: "Muxi Demo cotton bedding set", category: "consumer_goods",
				gtin12: "200000000201", standards: []string{"GB/T 22796-2021", "OEKO-TEX Standard 100 (demo)"}, lot: "MX-2026-07"},
			{name: "木犀示范 毛巾", en: "Muxi Demo bath towel", category: "consumer_goods",
				standards: []string{"GB/T 22864-2009"}},
		}},
	{slug: "yunti", name: "云梯虚构电器有限公司", en: "Yunti Fictitious Appliances Co., Ltd.",
		uscc17: "91440600MA4DEMY03", filing: "DEMO-4406-000303", address: "广东省虚构市云梯大道 66 号 (66 Yunti Avenue, Fictitious City, Guangdong)",
		story: "failed a follow-up inspection after a complaint: suspended, rectification due",
		products: []demoProduct{
			{name: "云梯虚构 电热水壶 1.7L", en: "Yunti Fictitious electric kettle 1.7 L", category: "consumer_goods",
				gtin12: "200000000301", standards: []string{"GB 4706.19-2008", "IEC 60335-2-15"}, lot: "YT-K17-2026-05"},
			{name: "云梯虚构 电饭煲 4L", en: "Yunti Fictitious rice cooker 4 L", category: "consumer_goods",
				gtin12: "200000000302", standards: []string{"GB 4706.19-2008", "IEC 60335-2-15"}},
		}},
	{slug: "jincheng", name: "金橙虚构食品有限公司", en: "Jincheng Fictitious Foods Co., Ltd.",
		uscc17: "91450100MA5DEMJ04", filing: "DEMO-4501-000404", address: "广西示范市金橙路 9 号 (9 Jincheng Road, Demo City, Guangxi)",
		story: "a complaint, a failed complaint inspection, certification revoked",
		products: []demoProduct{
			{name: "金橙虚构 糖水橘子罐头", en: "Jincheng Fictitious mandarin oranges in syrup", category: "food",
				gtin12: "200000000401", standards: []string{"GB/T 13210-2014", "Codex STAN 68-1981"}, lot: "JC-2026-112"},
			{name: "金橙虚构 香橙果酱", en: "Jincheng Fictitious orange marmalade", category: "food",
				standards: []string{"GB/T 22474-2008"}},
		}},
	{slug: "bailu", name: "白鹭示范五金工具有限公司", en: "Bailu Demo Hardware Tools Co., Ltd.",
		uscc17: "91350200MA3DEMB05", filing: "DEMO-3502-000505", address: "福建省示范市白鹭港区 3 号 (3 Bailu Port, Demo City, Fujian)",
		story: "certified, renewed early (换证); one export batch returned (退运) and recalled",
		products: []demoProduct{
			{name: "白鹭示范 不锈钢扳手套装", en: "Bailu Demo stainless spanner set", category: "industrial",
				gtin12: "200000000501", standards: []string{"GB/T 4393-2008", "ISO 7738:2001"}, lot: "BL-EX-2026-02"},
			{name: "白鹭示范 园艺修枝剪", en: "Bailu Demo garden pruning shears", category: "industrial",
				standards: []string{"QB/T 2289.4-2012"}},
		}},
	{slug: "shanquan", name: "山泉示例农产有限公司", en: "Shanquan Example Agri-Products Co., Ltd.",
		uscc17: "91520100MA6DEMH06", filing: "DEMO-5201-000606", address: "贵州省示例县山泉村 (Shanquan Village, Example County, Guizhou)",
		story: "eco-origin certified; its previous eco-origin certificate expired",
		products: []demoProduct{
			{name: "山泉示例 高山百花蜂蜜", en: "Shanquan Example mountain wildflower honey", category: "agricultural",
				gtin12: "200000000601", standards: []string{"GB 14963-2011"}, lot: "SQ-H-2026-09"},
			{name: "山泉示例 干香菇", en: "Shanquan Example dried shiitake", category: "agricultural",
				standards: []string{"GB 7096-2014"}},
		}},
}

// demoInspectors is the 双随机 inspector pool (invented people, by code name).
var demoInspectors = []string{"检查员甲 Inspector A", "检查员乙 Inspector B", "检查员丙 Inspector C", "检查员丁 Inspector D"}

// demoUSCC completes a 17-character credit code body with its check character.
func demoUSCC(first17 string) string {
	c, err := ids.USCCCheck(first17)
	if err != nil {
		panic(fmt.Sprintf("demo credit code %s: %v", first17, err))
	}
	return first17 + string(c)
}

// demoGTIN completes a GTIN body with its check digit ("" stays "").
func demoGTIN(body string) string {
	if body == "" {
		return ""
	}
	c, err := ids.GTINCheck(body)
	if err != nil {
		panic(fmt.Sprintf("demo GTIN %s: %v", body, err))
	}
	return body + string(c)
}

// body returns the product's registration body.
func (p demoProduct) body(line string) *event.Product {
	return &event.Product{Category: p.category, DomesticStandards: p.standards, ExportStandards: p.standards,
		GTIN: demoGTIN(p.gtin12), Lines: []string{line}, Name: p.name + " (" + p.en + ")"}
}
