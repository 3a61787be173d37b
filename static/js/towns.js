// The town picker at / of a server of a fleet of several towns: every town
// of the fleet (/api/towns), those this server serves and those other
// server groups behind the same proxy serve ("served": false, whose links
// the proxy routes to their group), with its planner and its kiosk, in the
// page's language.
import { at } from './base.js';

const strings = {
  it: { heading: 'Scegli un comune', planner: 'Esplora le presenze', kiosk: 'Chiosco', lang: 'English', failed: 'Elenco dei comuni non disponibile' },
  en: { heading: 'Choose a town', planner: 'Explore the flows', kiosk: 'Kiosk', lang: 'Italiano', failed: 'The list of towns is not available' },
};

const params = new URLSearchParams(location.search);
const lang = params.get('lang') === 'en' ? 'en' : 'it';
const s = strings[lang];
document.documentElement.lang = lang;
document.getElementById('heading').textContent = s.heading;
const langButton = document.getElementById('lang');
langButton.textContent = s.lang;
langButton.addEventListener('click', () => {
  params.set('lang', lang === 'en' ? 'it' : 'en');
  location.search = params.toString();
});

function link(href, text) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  return a;
}

try {
  const res = await fetch(at('/api/towns'));
  if (!res.ok) throw new Error(res.status);
  const { towns } = await res.json();
  const list = document.getElementById('towns');
  const suffix = lang === 'en' ? '?lang=en' : '';
  for (const t of towns) {
    const li = document.createElement('li');
    li.dataset.town = t.code;
    const name = document.createElement('strong');
    name.textContent = (t.names && t.names[lang]) || t.name;
    li.append(name, ' ', link(t.url + suffix, s.planner), ' · ', link(t.kiosk_url + suffix, s.kiosk));
    list.append(li);
  }
} catch (err) {
  const status = document.getElementById('status');
  status.textContent = s.failed;
  status.classList.add('error');
}
