
window.addEventListener("load", function () {
  var imgs = document.images, ok = true;
  for (var i = 0; i < imgs.length; i++) { if (!(imgs[i].complete && imgs[i].naturalWidth > 0)) { ok = false; } }
  document.body.dataset.imagesOk = ok ? "true" : "false";
  document.body.dataset.imageCount = String(imgs.length);
});
