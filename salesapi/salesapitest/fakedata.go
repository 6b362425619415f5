package salesapitest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/salesbridge/salesbridge/salesapi"
)

// This file makes up realistic data: Russian visitors, houses, flats,
// comments. Everything comes from a seeded generator.

// house is a residential building on the site, belonging to a developer.
type house struct {
	ogrn          string
	externalID    int64
	name, address string
	entrances     int
	floors        int   // residential floors are 2..floors
	perFloor      int   // flats per floor and entrance
	flatBase      int64 // flat.id = flatBase + flat number
	odsBase       int64 // flat.id_ods = odsBase + flat number
	pricePerM2    int64 // roubles
}

var (
	houseNames = []string{"Северный парк", "Солнечный берег", "Лесная сказка", "Новые Ватутинки", "Береговой",
		"Зелёный квартал", "Город на реке", "Алые паруса", "Сиреневый бульвар", "Звёздный", "Летний сад",
		"Символ", "Первый Московский", "Родные просторы", "Кленовый дом", "Волжская набережная"}
	cities = []string{"г. Москва", "г. Москва", "Московская обл., г. Красногорск", "Московская обл., г. Балашиха",
		"г. Санкт-Петербург", "г. Казань", "г. Екатеринбург", "г. Новосибирск", "г. Краснодар", "г. Тюмень"}
	streets = []string{"ул. Лесная", "ул. Садовая", "пр-т Мира", "Ленинградское ш.", "ул. Гагарина",
		"ул. Профсоюзная", "Береговой пр-д", "ул. Академика Королёва", "ул. Полевая", "Кутузовский пр-т",
		"ул. Центральная", "ул. Молодёжная", "наб. Космонавтов", "ул. Набережная"}
)

// newHouses makes a few houses for each developer of the contract.
func newHouses(r *rand.Rand, ogrns []string) []*house {
	var out []*house
	next := int64(40000 + r.IntN(9000))
	for _, ogrn := range ogrns {
		n := 2 + r.IntN(2)
		name := houseNames[r.IntN(len(houseNames))]
		city := cities[r.IntN(len(cities))]
		street := streets[r.IntN(len(streets))]
		num := 1 + r.IntN(60)
		for k := 1; k <= n; k++ {
			next += int64(1 + r.IntN(40))
			h := &house{
				ogrn:       ogrn,
				externalID: next,
				name:       fmt.Sprintf("ЖК «%s», корпус %d", name, k),
				address:    fmt.Sprintf("%s, %s, д. %d, корп. %d", city, street, num, k),
				entrances:  1 + r.IntN(6),
				floors:     9 + r.IntN(17),
				perFloor:   4 + r.IntN(5),
				flatBase:   next * 10000,
				odsBase:    int64(1000000 + r.IntN(8000000)),
				pricePerM2: int64(110000 + r.IntN(240000)),
			}
			out = append(out, h)
		}
	}
	return out
}

// flat picks a flat of h and its catalog price (3 to 30 million roubles).
func (h *house) flat(r *rand.Rand) (salesapi.Flat, int64) {
	e := 1 + r.IntN(h.entrances)
	f := 2 + r.IntN(h.floors-1)
	p := 1 + r.IntN(h.perFloor)
	num := ((e-1)*(h.floors-1)+(f-2))*h.perFloor + p
	// Area by the flat's place on the floor: studios to three-room flats.
	area := int64(24 + (p*37)%70)
	price := h.pricePerM2 * area * int64(100+f) / 100
	price = min(max(price, 3_000_000), 30_000_000) / 10000 * 10000
	return salesapi.Flat{
		ID:       h.flatBase + int64(num),
		IDODS:    fmt.Sprint(h.odsBase + int64(num)),
		Number:   fmt.Sprint(num),
		Entrance: fmt.Sprint(e),
		Floor:    int64(f),
	}, price
}

func (h *house) object() salesapi.Object {
	return salesapi.Object{ExternalID: h.externalID, Name: h.name, Address: h.address}
}

var (
	surnames = []string{"Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
		"Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов",
		"Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев",
		"Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв", "Сергеев", "Белов", "Тарасов",
		"Комаров", "Киселёв", "Ковалевский", "Данилин", "Жуковский"}
	maleNames   = []string{"Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл", "Михаил", "Никита", "Иван", "Роман", "Егор", "Павел", "Владимир", "Денис", "Евгений", "Тимур", "Олег"}
	femaleNames = []string{"Анна", "Мария", "Елена", "Ольга", "Наталья", "Екатерина", "Татьяна", "Ирина", "Светлана", "Юлия", "Анастасия", "Дарья", "Ксения", "Виктория", "Полина", "Алина", "Марина", "Валерия", "Людмила", "София"}
	fathers     = [][2]string{{"Александрович", "Александровна"}, {"Дмитриевич", "Дмитриевна"}, {"Сергеевич", "Сергеевна"},
		{"Андреевич", "Андреевна"}, {"Алексеевич", "Алексеевна"}, {"Иванович", "Ивановна"}, {"Михайлович", "Михайловна"},
		{"Николаевич", "Николаевна"}, {"Владимирович", "Владимировна"}, {"Викторович", "Викторовна"},
		{"Петрович", "Петровна"}, {"Юрьевич", "Юрьевна"}, {"Олегович", "Олеговна"}, {"Евгеньевич", "Евгеньевна"}}
	mailDomains = []string{"mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "ya.ru", "rambler.ru"}

	visitorComments = []string{"Интересует ипотека", "Рассматриваю семейную ипотеку", "Перезвоните после 18:00, пожалуйста",
		"Можно ли посмотреть квартиру в выходные?", "Есть ли скидка при 100% оплате?", "Интересует трейд-ин",
		"Какой срок сдачи дома?", "Хочу узнать про отделку", "Есть ли парковочные места?", "Прошу связаться по WhatsApp",
		"Использую материнский капитал", "Удобно звонить в обед"}
	officeComments = []string{"Клиент не отвечает, перезвонить завтра", "Назначен показ на субботу", "Ждём одобрения ипотеки",
		"Бронь до пятницы", "Отправили планировку на почту", "Клиент думает", "Отказ: не устроила цена",
		"Договор на подписании", "Согласована скидка", "Перенос показа по просьбе клиента", "Повторный звонок",
		"Документы получены", "Клиент выбрал другой ЖК", "Сделка зарегистрирована"}
)

// femaleSurname turns a male surname into its female form.
func femaleSurname(s string) string {
	switch {
	case strings.HasSuffix(s, "ский"):
		return strings.TrimSuffix(s, "ий") + "ая"
	case strings.HasSuffix(s, "ов"), strings.HasSuffix(s, "ев"), strings.HasSuffix(s, "ёв"), strings.HasSuffix(s, "ин"):
		return s + "а"
	}
	return s
}

var translit = map[rune]string{'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh",
	'з': "z", 'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s",
	'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y",
	'ь': "", 'э': "e", 'ю': "yu", 'я': "ya"}

func latin(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if t, ok := translit[r]; ok {
			b.WriteString(t)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// visitor is who sends an order.
type visitor struct{ name, email, phone, comment string }

func newVisitor(r *rand.Rand) visitor {
	surname := surnames[r.IntN(len(surnames))]
	father := fathers[r.IntN(len(fathers))]
	var first, patronymic string
	if r.IntN(2) == 0 {
		first, patronymic = maleNames[r.IntN(len(maleNames))], father[0]
	} else {
		first, patronymic, surname = femaleNames[r.IntN(len(femaleNames))], father[1], femaleSurname(surname)
	}
	var email string
	switch r.IntN(3) {
	case 0:
		email = fmt.Sprintf("%s.%s@%s", latin(first), latin(surname), mailDomains[r.IntN(len(mailDomains))])
	case 1:
		email = fmt.Sprintf("%s%d@%s", latin(surname), 1960+r.IntN(45), mailDomains[r.IntN(len(mailDomains))])
	default:
		email = fmt.Sprintf("%s.%s%d@%s", latin(first)[:1], latin(surname), r.IntN(100), mailDomains[r.IntN(len(mailDomains))])
	}
	phone := fmt.Sprintf("+7 (9%02d) %03d-%02d-%02d", r.IntN(100), r.IntN(1000), r.IntN(100), r.IntN(100))
	v := visitor{name: surname + " " + first + " " + patronymic, email: email, phone: phone}
	if r.IntN(10) < 4 {
		v.comment = visitorComments[r.IntN(len(visitorComments))]
	}
	return v
}

func officeComment(r *rand.Rand) string { return officeComments[r.IntN(len(officeComments))] }
