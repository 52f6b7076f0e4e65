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
      // entry[5] is 'village' for a village of the run's village list: open its marker's popup.
      if (entry[5] === 'village') {
        var villages = window.lomsong.layers.villages;
        map.fitBounds(entry[4], {maxZoom: 15, animate: false});
        if (!villages) { return; }
        if (!map.hasLayer(villages)) { map.addLayer(villages); }
        villages.eachLayer(function (layer) {
          if (layer.feature && layer.feature.properties.key === entry[0]) { layer.openPopup(); }
        });
        return;
      }
      // No animation: the popup opened next must pan clear of the title against the final view.
      map.fitBounds(entry[4], {maxZoom: 13, animate: false, paddingTopLeft: [20, 150],
                               paddingBottomRight: [290, 10]});
      // entry[5] is 'unit' for a 2025 unit, else an old commune.
      var isUnit = entry[5] === 'unit' && window.lomsong.layers.units;
      var target = isUnit ? window.lomsong.layers.units : communes;
      var key = isUnit ? 'unit_code' : 'commune_code';
      target.eachLayer(function (layer) {
        if (layer.feature && layer.feature.properties[key] === entry[0]) {
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
  // [lat, lon, name, extra class, min zoom]; most important first (decluttering keeps those).
  labels: function (labels, group) {
    group._lomsongLabels = labels.map(function (l) {
      var name = document.createElement('span');
      name.textContent = l[2];  // a name from a boundaries file: text, never markup
      return L.marker([l[0], l[1]], {icon: L.divIcon({className: 'lomsong-label ' + (l[3] || ''), html: name,
        iconSize: null}), interactive: false, keyboard: false, minZoom: l[4] || 0}).addTo(group);
    });
  },
  // What makes a page read at 1366×768: the legend as a Leaflet control (it never covers another
  // control), a metric-only scale, labels hidden where they would overlap, and the measuring tool
  // in the page's language (leaflet-measure ships no Vietnamese: its English is replaced as it appears).
  legibility: function (map, groups, words) {
          
          L.control.scale({metric: true, imperial: false, position: 'bottomleft'}).addTo(map);
          var legend = document.getElementById('lomsong-legend');
          if (legend) {
            var Legend = L.Control.extend({options: {position: 'bottomright'}, onAdd: function () {
              L.DomEvent.disableClickPropagation(legend); L.DomEvent.disableScrollPropagation(legend);
              return legend;
            }});
            new Legend().addTo(map);
          }
          
          function overlaps(a, b) {
            return !(a.right < b.left || a.left > b.right || a.bottom < b.top || a.top > b.bottom);
          }
          function declutter() {
            var kept = [];
            groups.forEach(function (group) {
              if (!map.hasLayer(group)) { return; }
              (group._lomsongLabels || []).forEach(function (marker) {
                var element = marker.getElement();
                if (!element) { return; }
                if (marker.options.minZoom && map.getZoom() < marker.options.minZoom) {
                  element.style.visibility = 'hidden';
                  return;
                }
                var box = element.getBoundingClientRect();
                var padded = {left: box.left - 2, right: box.right + 2, top: box.top - 1, bottom: box.bottom + 1};
                var hidden = kept.some(function (other) { return overlaps(padded, other); });
                element.style.visibility = hidden ? 'hidden' : 'visible';
                if (!hidden) { kept.push(padded); }
              });
            });
          }
          map.on('zoomend moveend overlayadd overlayremove resize', declutter);
          map.whenReady(function () { setTimeout(declutter, 0); });
          window.lomsong = window.lomsong || {};
          window.lomsong.declutter = declutter;
          
          if (!Object.keys(words).length) { return; }
          var unitsPattern = /(\d{1,3}(?:,\d{3})*(?:\.\d+)?)(?=\s*(?:km|ha|m²|m)(?![A-Za-z]))/g;
          function localNumber(match) {
            return match.replace(/,/g, '\u0001').replace(/\./g, ',').replace(/\u0001/g, '.');
          }
          function translate(root) {
            var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, null);
            var node;
            while ((node = walker.nextNode())) {
              var value = node.nodeValue, key = value.trim();
              if (words[key]) { node.nodeValue = value.replace(key, words[key]); continue; }
              var local = value.replace(unitsPattern, localNumber);
              if (local !== value) { node.nodeValue = local; }
            }
            root.querySelectorAll('[title]').forEach(function (element) {
              var title = element.getAttribute('title');
              if (words[title]) { element.setAttribute('title', words[title]); }
            });
          }
          var container = map.getContainer();
          var busy = false;
          function inMeasure(node) {
            var element = node.nodeType === 1 ? node : node.parentElement;
            return element && element.closest &&
              element.closest('.leaflet-control-measure, .leaflet-measure-resultpopup');
          }
          new MutationObserver(function (records) {
            if (busy) { return; }
            busy = true;
            records.forEach(function (record) {
              var scope = inMeasure(record.target);
              if (scope) { translate(scope); }
              record.addedNodes.forEach(function (added) { var s = inMeasure(added); if (s) { translate(s); } });
            });
            busy = false;
          }).observe(container, {childList: true, subtree: true, characterData: true});
          container.querySelectorAll('.leaflet-control-measure').forEach(translate);
  }
};
