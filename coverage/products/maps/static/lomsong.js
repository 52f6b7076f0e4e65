/* lomsong map pages: the commune search (diacritic-insensitive), named handles for scripts and tests
   (window.lomsong) and the commune labels. Loaded once per page; the page calls these with its data. */
window.lomsongPage = {
  behaviour: function (map, communes, entries, text, layers) {
    window.lomsong = {map: map, communes: communes, layers: layers};
    function fold(s) {
      return String(s).replace(/đ/g, 'd').replace(/Đ/g, 'D').normalize('NFD')
        .replace(/[\u0300-\u036f]/g, '').replace(/[’‘`ʼ]/g, "'").toLowerCase()
        .replace(/\s+/g, ' ').trim();
    }
    function choose(entry) {
      map.fitBounds(entry[4], {maxZoom: 13});
      communes.eachLayer(function (layer) {
        if (layer.feature && layer.feature.properties.commune_code === entry[0]) {
          layer.openPopup(layer.getBounds().getCenter());
        }
      });
    }
    window.lomsong.choose = choose;
    window.lomsong.fold = fold;
    var Search = L.Control.extend({
      options: {position: 'topleft'},
      onAdd: function () {
        var box = L.DomUtil.create('div', 'lomsong-search leaflet-bar');
        var input = L.DomUtil.create('input', '', box);
        input.type = 'search';
        input.placeholder = text.placeholder;
        input.setAttribute('aria-label', text.placeholder);
        var list = L.DomUtil.create('ul', '', box);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        var found = [];
        function show() {
          var key = fold(input.value);
          list.innerHTML = '';
          if (!key) { found = []; return; }
          found = entries.filter(function (e) { return e[3].indexOf(key) !== -1; });
          found.sort(function (a, b) {
            var an = fold(a[1]).indexOf(key) !== -1 ? 0 : 1, bn = fold(b[1]).indexOf(key) !== -1 ? 0 : 1;
            return an - bn || a[1].localeCompare(b[1], 'vi');
          });
          if (!found.length) {
            var none = L.DomUtil.create('li', '', list);
            none.textContent = text.none;
            return;
          }
          found.slice(0, 12).forEach(function (e) {
            var item = L.DomUtil.create('li', '', list);
            item.textContent = e[1] + ' ';
            var small = L.DomUtil.create('small', '', item);
            small.textContent = e[2];
            item.setAttribute('data-code', e[0]);
            // Stop the click here: once the list is emptied Leaflet would see a map click and
            // close the popup that choose() opens.
            L.DomEvent.on(item, 'click', function (ev) {
              L.DomEvent.stop(ev); list.innerHTML = ''; input.value = e[1]; choose(e);
            });
          });
        }
        L.DomEvent.on(input, 'input', show);
        L.DomEvent.on(input, 'keydown', function (ev) {
          if (ev.key !== 'Enter' || !found.length) { return; }
          choose(found[0]); list.innerHTML = ''; input.value = found[0][1];
        });
        return box;
      }
    });
    new Search().addTo(map);
  },
  labels: function (labels, group) {
    labels.forEach(function (l) {
      var name = document.createElement('span');
      name.textContent = l[2];  // a commune name from a boundaries file: text, never markup
      L.marker([l[0], l[1]], {icon: L.divIcon({className: 'lomsong-label', html: name, iconSize: null}),
        interactive: false, keyboard: false}).addTo(group);
    });
  }
};
