"""Scenario (e2): a Flask application of real weight, served through mod_python.wsgi.

One route renders a Jinja page of about 5.5 KB (templates/page.html, which
extends templates/base.html) from data built per request: Flask's routing,
request context and response object, Jinja's inheritance, loops, filters and
HTML escaping all run on every request, as in an ordinary server-rendered
page. The data is fixed, so every target sends the same bytes."""

from flask import Flask, render_template

app = Flask(__name__)

# Names with characters that autoescape must rewrite, so escaping is exercised.
PRODUCTS = [
    {
        "sku": "HY-%04d" % i,
        "name": "Widget <%d> & sons" % i,
        "price": 3.5 + i * 1.25,
        "stock": (i * 37) % 120,
        "tags": ["steel", "blue", "large"][: 1 + i % 3],
    }
    for i in range(31)
]


@app.route("/page")
def page():
    products = [dict(p, low=p["stock"] < 20) for p in PRODUCTS]
    total = sum(p["price"] * p["stock"] for p in products)
    return render_template("page.html", title="Catalogue", products=products, total=total,
                           user={"name": "Ada \"admin\" Lovelace", "basket": 3})
