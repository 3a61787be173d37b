package refdata

import "github.com/flowtiles/flowtiles/tiles"

// provinceNames are the names of Italy's provinces, metropolitan cities
// and equivalent units (ISTAT "unità territoriali sovracomunali") by their
// ISTAT code, as of the municipality boundaries embedded here (June 2023).
// The boundary files name provinces by abbreviation only ("PG"); people
// read them by name ("Perugia").
var provinceNames = map[string]string{
	"001": "Torino", "002": "Vercelli", "003": "Novara", "004": "Cuneo", "005": "Asti",
	"006": "Alessandria", "007": "Valle d'Aosta/Vallée d'Aoste", "008": "Imperia", "009": "Savona", "010": "Genova",
	"011": "La Spezia", "012": "Varese", "013": "Como", "014": "Sondrio", "015": "Milano",
	"016": "Bergamo", "017": "Brescia", "018": "Pavia", "019": "Cremona", "020": "Mantova",
	"021": "Bolzano/Bozen", "022": "Trento", "023": "Verona", "024": "Vicenza", "025": "Belluno",
	"026": "Treviso", "027": "Venezia", "028": "Padova", "029": "Rovigo", "030": "Udine",
	"031": "Gorizia", "032": "Trieste", "033": "Piacenza", "034": "Parma", "035": "Reggio nell'Emilia",
	"036": "Modena", "037": "Bologna", "038": "Ferrara", "039": "Ravenna", "040": "Forlì-Cesena",
	"041": "Pesaro e Urbino", "042": "Ancona", "043": "Macerata", "044": "Ascoli Piceno", "045": "Massa-Carrara",
	"046": "Lucca", "047": "Pistoia", "048": "Firenze", "049": "Livorno", "050": "Pisa",
	"051": "Arezzo", "052": "Siena", "053": "Grosseto", "054": "Perugia", "055": "Terni",
	"056": "Viterbo", "057": "Rieti", "058": "Roma", "059": "Latina", "060": "Frosinone",
	"061": "Caserta", "062": "Benevento", "063": "Napoli", "064": "Avellino", "065": "Salerno",
	"066": "L'Aquila", "067": "Teramo", "068": "Pescara", "069": "Chieti", "070": "Campobasso",
	"071": "Foggia", "072": "Bari", "073": "Taranto", "074": "Brindisi", "075": "Lecce",
	"076": "Potenza", "077": "Matera", "078": "Cosenza", "079": "Catanzaro", "080": "Reggio Calabria",
	"081": "Trapani", "082": "Palermo", "083": "Messina", "084": "Agrigento", "085": "Caltanissetta",
	"086": "Enna", "087": "Catania", "088": "Ragusa", "089": "Siracusa", "090": "Sassari",
	"091": "Nuoro", "092": "Cagliari", "093": "Pordenone", "094": "Isernia", "095": "Oristano",
	"096": "Biella", "097": "Lecco", "098": "Lodi", "099": "Rimini", "100": "Prato",
	"101": "Crotone", "102": "Vibo Valentia", "103": "Verbano-Cusio-Ossola", "108": "Monza e della Brianza", "109": "Fermo",
	"110": "Barletta-Andria-Trani", "111": "Sud Sardegna",
}

// ProvinceName returns the name of a province by its ISTAT code (3 digits)
// or abbreviation ("PG"); ok is false for an unknown one.
func (c *Catalog) ProvinceName(codeOrAbbrev string) (name, code string, ok bool) {
	if n, ok := provinceNames[codeOrAbbrev]; ok {
		return n, codeOrAbbrev, true
	}
	for _, m := range c.Municipalities {
		if m.Province == codeOrAbbrev {
			n, ok := provinceNames[m.ProvinceCode]
			return n, m.ProvinceCode, ok
		}
	}
	return "", "", false
}

// NameProvinces gives the provinces among places their names: the
// boundary files and the database know them by abbreviation ("PG"), and
// every map label and stats row should read "Perugia". Places of other
// levels, and provinces of unknown code, are left as they are.
func NameProvinces(places []tiles.Place) {
	for i := range places {
		if places[i].Level != tiles.LevelProvince {
			continue
		}
		if n, ok := provinceNames[places[i].Code]; ok {
			places[i].Name = n
		}
	}
}
